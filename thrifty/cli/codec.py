"""`thrifty compress TRACE_FOLDER`: bits per value of a trace under the off-chip codec."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from thrifty._config import parse_config, with_overrides
from thrifty._io import write_json_atomic
from thrifty._provenance import provenance
from thrifty.hw.codec.accounting import CodecSummary, measure_trace
from thrifty.hw.codec.config import CodecConfig


def _line(name: str, summary: CodecSummary) -> str:
    return (
        f"  {name:<32s} {summary.tensors:>6d} {summary.numel:>12d} "
        f"{summary.bits_per_value:>9.3f} {summary.compression_ratio:>7.3f}"
    )


def compress(
    trace_folder: Annotated[Path, typer.Argument(help="Folder of a trace store (thrifty.trace).")],
    group: Annotated[int, typer.Option(help="Values per group along the channel dimension.")] = 16,
    mode: Annotated[
        str, typer.Option(help="exponent_delta, value_delta or none (raw 16 bits).")
    ] = "exponent_delta",
    zero_bitmap: Annotated[bool, typer.Option(help="One bit per value marking zeros.")] = True,
    check_lossless: Annotated[
        bool,
        typer.Option("--check-lossless", help="Also decode every tensor and compare bit for bit."),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "--output", "-o", help="Write the report as JSON to this file."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a codec config key, e.g. --set group=8 (repeatable; applied after "
            "the options above).",
        ),
    ] = None,
) -> None:
    """Encode every tensor of a trace and report bits per value per class, layer and operation."""
    config = parse_config(
        CodecConfig, {"group": group, "mode": mode, "zero_bitmap": zero_bitmap}, "codec options"
    )
    config = with_overrides(config, set_ or [])
    report = measure_trace(trace_folder, config, check_lossless=check_lossless)
    header = f"  {'':<32s} {'tensors':>6s} {'values':>12s} {'bits/val':>9s} {'ratio':>7s}"
    typer.echo(f"codec: group {config.group}, {config.mode}, zero bitmap {config.zero_bitmap}")
    for title, table in (
        ("per tensor class (each stored tensor once)", report.by_class()),
        ("per operation (operand traffic)", report.by_op()),
        ("per layer (operand traffic)", report.by_layer()),
    ):
        typer.echo(title)
        typer.echo(header)
        for name, summary in table.items():
            typer.echo(_line(name, summary))
    typer.echo(_line("total traffic", report.total()))
    if check_lossless:
        typer.echo(f"lossless: all {len(report.unique_records())} tensors round-trip bit for bit")
    if out is not None:
        write_json_atomic(out, {**provenance(config, None), "report": report.to_dict()})
        typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add `thrifty compress` to the CLI."""
    app.command("compress")(compress)
