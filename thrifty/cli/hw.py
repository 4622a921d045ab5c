"""`thrifty hw synth`: parse arguments, synthesize the PE designs with Yosys, print and write."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

hw_app = typer.Typer(
    help="Hardware of the processing elements: RTL synthesis with Yosys.", no_args_is_help=True
)


@hw_app.command("synth")
def synth_command(
    out: Annotated[Path, typer.Option(help="Output folder for synthesized_area.json and logs.")],
    arch: Annotated[
        str, typer.Option(help="Accelerator preset name or YAML file; its `pe` section is used.")
    ] = "default",
    set_: Annotated[
        Optional[list[str]],  # noqa: UP045 - typer needs Optional under `from __future__`
        typer.Option("--set", help="Override a config value: pe.key=value (repeatable)."),
    ] = None,
    liberty: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Liberty (.lib) cell library; default: the bundled Nangate 45 nm one."),
    ] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Yosys runs at a time.")] = 2,
) -> None:
    """Synthesize the term-serial PE, its term recoder and both baselines; needs `yosys`."""
    from rich.console import Console

    from thrifty._config import parse_config
    from thrifty.hw.config import HardwareConfig, load_hardware_config
    from thrifty.hw.synth import synthesize, write_synthesis
    from thrifty.report.synthesis_table import synthesis_table
    from thrifty.train.config import apply_overrides

    data = apply_overrides(load_hardware_config(arch).model_dump(), set_ or [])
    config = parse_config(HardwareConfig, data, "--set")
    results = synthesize([config.pe], liberty=liberty, workdir=out / "yosys", jobs=jobs)
    path = write_synthesis(results, out)
    Console(width=max(Console().width, 140)).print(synthesis_table(results))
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add the `hw` command group to the thrifty CLI."""
    app.add_typer(hw_app, name="hw")
