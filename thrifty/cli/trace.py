"""`thrifty trace info FOLDER`: per layer and operation, what a trace store holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

trace_app = typer.Typer(help="Inspect training traces (see docs/traces.md).", no_args_is_help=True)


def _shape(shape: list[int]) -> str:
    return "×".join(str(s) for s in shape)


def _exponents(stats: dict[str, Any]) -> str:
    if stats["exponent_min"] is None:
        return "-"
    return f"2^{stats['exponent_min']}..2^{stats['exponent_max']}"


def _render(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"trace {summary['folder']}: {summary['entries']} entries")
    for column in ("layer", "op", "n", "operands (A · B → out)", "MACs", "bytes"):
        table.add_column(
            column,
            justify="right" if column in ("n", "MACs", "bytes") else "left",
            no_wrap=column in ("layer", "op"),  # names stay whole; the other cells wrap
        )
    for column in ("zeros A/B", "exponents A / B", "terms A/B"):
        table.add_column(column, justify="right")
    for row in summary["rows"]:
        (a, sa), (b, sb) = row["operands"].items()
        shapes = row["shapes"]
        table.add_row(
            row["layer"],
            row["op"],
            str(row["entries"]),
            f"{a} {_shape(shapes[a])} · {b} {_shape(shapes[b])} → {_shape(shapes['output'])}"
            f" [{row['dtype']}]",
            f"{row['macs']:,}",
            f"{row['bytes']:,}",
            f"{sa['zero_fraction']:.1%} / {sb['zero_fraction']:.1%}",
            f"{_exponents(sa)} / {_exponents(sb)}",
            f"{sa['mean_terms']:.2f} / {sb['mean_terms']:.2f}",
        )
    console = Console()  # the terminal's width: rich wraps cells to fit
    console.print(table)
    console.print(f"terms per value: {summary['term_encoding']}; zeros count 0 terms")
    for reason in summary["stopped"]:
        console.print(f"capturing stopped early: {reason}")


@trace_app.command("info")
def info(
    folder: Annotated[
        Path, typer.Argument(help="A trace store folder (or the parent of rank*/ folders).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
    encoding: Annotated[
        str, typer.Option(help="Term encoding (naf, binary, booth4) if thrifty.numerics has it.")
    ] = "naf",
) -> None:
    """Per layer and operation: shapes, MACs, bytes, zero fraction, exponent range, terms."""
    from thrifty.trace.stats import trace_summary

    summary = trace_summary(folder, encoding)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        _render(summary)


def register(app: typer.Typer) -> None:
    """Add the `trace` command group to the `thrifty` command."""
    app.add_typer(trace_app, name="trace")
