"""`thrifty simulate TRACE_FOLDER`: parse arguments, call the simulator, print and write results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from thrifty._config import parse_config
from thrifty.hw.config import HardwareConfig, load_hardware_config


def register(app: typer.Typer) -> None:
    """Add the `simulate` command to the thrifty CLI."""

    @app.command("simulate")
    def simulate(
        trace_folder: Annotated[Path, typer.Argument(help="Trace store written by thrifty.trace.")],
        arch: Annotated[
            str, typer.Option(help="Accelerator preset name or YAML file (HardwareConfig).")
        ] = "default",
        sample: Annotated[
            Optional[float],  # noqa: UP045 - typer needs Optional under `from __future__`
            typer.Option(help="Fraction of output tiles to simulate, in (0, 1]."),
        ] = None,
        out: Annotated[
            Optional[Path],  # noqa: UP045
            typer.Option(help="Output folder (default: TRACE_FOLDER/simulation)."),
        ] = None,
        jobs: Annotated[
            int,
            typer.Option(
                help="Processes over operations (0: all cores); the PE model is already "
                "multi-threaded."
            ),
        ] = 1,
        plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG plots.")] = True,
    ) -> None:
        """Simulate a training trace on term-serial and bit-parallel accelerators."""
        from rich.console import Console

        from thrifty._config import is_empty_config
        from thrifty.hw.sim.simulation import simulate_trace, write_simulation
        from thrifty.report.simulation_plots import write_simulation_plots
        from thrifty.report.simulation_table import simulation_table

        config = load_hardware_config(arch)
        if Path(arch).is_file() and is_empty_config(arch):
            typer.echo(f"note: config {arch!r} is empty: the defaults are used", err=True)
        if sample is not None:
            data = config.model_dump()
            data["sampling"] = {**data["sampling"], "fraction": sample}
            config = parse_config(HardwareConfig, data, "--sample")
        simulation = simulate_trace(trace_folder, config, jobs=jobs)
        out_dir = out if out is not None else trace_folder / "simulation"
        path = write_simulation(simulation, out_dir)
        report = simulation.to_dict()
        Console().print(simulation_table(report))  # fits the terminal: rich wraps cells
        typer.echo(f"wrote {path}")
        if plots:
            for plot in write_simulation_plots(report, out_dir):
                typer.echo(f"wrote {plot}")
