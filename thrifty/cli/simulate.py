"""`thrifty simulate TRACE_FOLDER` and `thrifty simulate --inference RUN`: parse, call, print.

A trace folder is simulated as training (bfloat16 term-serial against bit-parallel); a run folder
given with `--inference` is simulated as integer inference of its frozen model on test images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from thrifty._config import with_overrides
from thrifty.hw.config import load_hardware_config


def register(app: typer.Typer) -> None:
    """Add the `simulate` command to the thrifty CLI."""

    @app.command("simulate")
    def simulate(
        trace_folder: Annotated[
            Optional[Path],  # noqa: UP045
            typer.Argument(help="Trace store written by thrifty.trace (omit with --inference)."),
        ] = None,
        inference: Annotated[
            Optional[Path],  # noqa: UP045
            typer.Option(
                "--inference",
                help="Run folder of `thrifty train`: simulate integer inference of its frozen "
                "model on term-serial, bit-serial and bit-parallel integer accelerators.",
            ),
        ] = None,
        images: Annotated[
            int,
            typer.Option(help="--inference: test images drawn from the run's data set."),
        ] = 8,
        seed: Annotated[int, typer.Option(help="--inference: seed of the test-image draw.")] = 0,
        arch: Annotated[
            str, typer.Option(help="Accelerator preset name or YAML file (HardwareConfig).")
        ] = "default",
        sample: Annotated[
            Optional[float],  # noqa: UP045 - typer needs Optional under `from __future__`
            typer.Option(help="Fraction of output tiles to simulate, in (0, 1]."),
        ] = None,
        out: Annotated[
            Optional[Path],  # noqa: UP045
            typer.Option(
                help="Output folder (default: TRACE_FOLDER/simulation, or RUN/inference)."
            ),
        ] = None,
        jobs: Annotated[
            int,
            typer.Option(
                help="Processes over operations (0: all cores); the PE model is already "
                "multi-threaded."
            ),
        ] = 1,
        scheduler: Annotated[
            Optional[str],  # noqa: UP045
            typer.Option(
                help="Address of a Dask scheduler (tcp://HOST:8786): its workers simulate the "
                "operations, reading TRACE_FOLDER at the same path. Needs thrifty[dask]."
            ),
        ] = None,
        plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG plots.")] = True,
        set_: Annotated[
            Optional[list[str]],  # noqa: UP045
            typer.Option(
                "--set",
                help="Override a hardware config key, e.g. --set pe.lanes=16 (repeatable; "
                "applied after --arch, before --sample).",
            ),
        ] = None,
    ) -> None:
        """Simulate a training trace on term-serial and bit-parallel accelerators.

        Compares against both baselines (a fused dot-product PE and per-lane FMA units) at
        iso compute area, with and without the off-chip codec, and says where each area
        ratio came from. With --inference RUN instead: integer inference of the run's frozen
        model on test images, at its learned bitlengths and at uniform 8 bits.
        """
        from rich.console import Console

        from thrifty._config import is_empty_config
        from thrifty.errors import ConfigError
        from thrifty.hw.sim.simulation import simulate_trace, write_simulation
        from thrifty.report.simulation_plots import write_simulation_plots
        from thrifty.report.simulation_table import (
            area_lines,
            comparison_table,
            kind_table,
            simulation_table,
        )

        config = with_overrides(load_hardware_config(arch), set_ or [])
        if Path(arch).is_file() and is_empty_config(arch):
            typer.echo(f"note: config {arch!r} is empty: the defaults are used", err=True)
        if inference is not None:
            if trace_folder is not None:
                raise ConfigError(
                    f"pass either a trace folder ({str(trace_folder)!r}) or --inference RUN "
                    f"({str(inference)!r}), not both"
                )
            trace_only = {"--sample": sample, "--scheduler": scheduler}
            given = [name for name, value in trace_only.items() if value is not None]
            if given or jobs != 1:
                raise ConfigError(
                    f"{given or ['--jobs']} apply to a trace folder; --inference simulates every "
                    "output tile in this process: drop them (use --images for a smaller run)"
                )
            _simulate_inference(inference, config, images, seed, out)
            return
        if trace_folder is None:
            raise ConfigError(
                "nothing to simulate: pass a trace folder (thrifty trace) or --inference RUN "
                "(a thrifty train run folder)"
            )
        if sample is not None:
            config = with_overrides(config, [f"sampling.fraction={sample!r}"], "--sample")
        simulation = simulate_trace(trace_folder, config, jobs=jobs, scheduler=scheduler)
        out_dir = out if out is not None else trace_folder / "simulation"
        path = write_simulation(simulation, out_dir)
        report = simulation.to_dict()
        console = Console()  # the terminal's width: rich wraps cells to fit
        console.print(simulation_table(report))
        console.print(kind_table(report))
        console.print(comparison_table(report))
        for line in area_lines(report):
            typer.echo(line)
        typer.echo(f"wrote {path}")
        if plots:
            for plot in write_simulation_plots(report, out_dir):
                typer.echo(f"wrote {plot}")


def _simulate_inference(run: Path, config, images: int, seed: int, out: Path | None) -> None:
    """Integer inference of the run's frozen model: tables on the terminal, inference.json."""
    from rich.console import Console

    from thrifty.hw.sim.inference import write_inference
    from thrifty.hw.sim.run_inference import simulate_run_inference
    from thrifty.report.inference_table import inference_energy_table, inference_table

    simulation = simulate_run_inference(run, config, images=images, seed=seed)
    path = write_inference(simulation, out if out is not None else run / "inference")
    report = simulation.to_dict()
    console = Console()
    console.print(inference_table(report))
    console.print(inference_energy_table(report))
    typer.echo(f"wrote {path}")
