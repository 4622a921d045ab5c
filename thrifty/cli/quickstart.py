"""`thrifty quickstart [--out DIR] [--fast]`: parses its options and calls run_quickstart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_OUT_DIR = Path("thrifty-quickstart")
"""Where the report goes when --out is not given (relative to the current folder)."""


def quickstart(
    out: Annotated[
        Path,
        typer.Option("--out", help="Folder for report.json, report.html and the stages' files."),
    ] = DEFAULT_OUT_DIR,
    fast: Annotated[
        bool,
        typer.Option("--fast", help="Smaller budgets: about 2 minutes instead of 10."),
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show the progress display.")
    ] = True,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a config value (repeatable): hardware.key.sub=value for the "
            "simulated accelerator (e.g. hardware.pe.lanes=16), train.key.sub=value for every "
            "variant's training (e.g. train.optimizer.lr=0.01).",
        ),
    ] = None,
) -> None:
    """Train four variants on the embedded data set, simulate them, and write the report."""
    from thrifty.quickstart.pipeline import run_quickstart

    result = run_quickstart(out, fast=fast, progress=progress, overrides=set_ or [])
    typer.echo(f"wrote {result.report_json} and {result.report_html}")


def register(app: typer.Typer) -> None:
    """Add the `quickstart` command to the thrifty CLI."""
    app.command("quickstart")(quickstart)


__all__ = ["register"]
