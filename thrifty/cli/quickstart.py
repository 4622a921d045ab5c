"""`thrifty quickstart [--out DIR] [--fast]`: parses its options and calls run_quickstart."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from thrifty.report.schema import QuickstartReport

DEFAULT_OUT_DIR = Path("thrifty-quickstart")
"""Where the report goes when --out is not given (relative to the current folder)."""


HELP = (
    "Train four variants on Fashion-MNIST, simulate them, and write the report.\n\n"
    "Fashion-MNIST is read from Debian's dataset-fashion-mnist package "
    "(/usr/share/datasets/fashion-mnist); without it, scikit-learn's bundled digits are used "
    "and the report says so. Nothing is downloaded."
)
"""The command's --help text."""


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
    """Train four variants on Fashion-MNIST, simulate them, and write the report (HELP)."""
    from thrifty.quickstart.pipeline import run_quickstart

    result = run_quickstart(out, fast=fast, progress=progress, overrides=set_ or [])
    if not progress:  # the progress display prints these lines itself
        for line in result_lines(result.report):
            typer.echo(line, err=True)
    typer.echo(f"wrote {result.report_json} and {result.report_html}")


def result_lines(report: QuickstartReport) -> list[str]:
    """The data set used and each claim's verdict with its reason, one line each."""
    from thrifty.quickstart.claims import claim_line

    data = report.dataset
    used = f"data set: {data.name}"
    if data.fell_back:
        used += f" (Fashion-MNIST not used: {data.reason})"
    return [used, *(claim_line(claim) for claim in report.claims)]


def register(app: typer.Typer) -> None:
    """Add the `quickstart` command to the thrifty CLI."""
    app.command("quickstart", help=HELP)(quickstart)


__all__ = ["register"]
