"""Terminal tables of an integer inference report, built from the `inference.json` dict.

`inference_table`: per layer and in total, the cycles of the term-serial (headline sync
policy), bit-serial and bit-parallel designs at the learned bitlengths and at uniform bits.
`inference_energy_table`: energy per inference of each design at both precisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from thrifty.report.number_format import format_number

_DESIGN_NAMES = {"term_serial": "term-serial", "bit_serial": "bit-serial",
                 "bit_parallel": "bit-parallel"}  # fmt: skip


def _cycles(record: Mapping[str, Any], design: str, policy: str) -> float:
    value = record["cycles"][design]
    return float(value[policy] if isinstance(value, Mapping) else value)


def _bits(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def inference_table(report: Mapping[str, Any]) -> Table:
    """Per layer and in total, one row per precision: mean bitlengths and each design's cycles."""
    policy, bits = report["headline_policy"], report["uniform_bits"]
    learned, uniform = report["learned"], report["uniform"]
    table = Table(
        title=f"integer inference of {report['images']} images: cycles (term-serial: {policy} sync)"
    )
    for column in ("layer", "bits", "act bits", "w bits"):
        table.add_column(column, justify="left" if column in ("layer", "bits") else "right")
    for design in report["designs"]:
        table.add_column(_DESIGN_NAMES.get(design, design), justify="right")
    pairs = [*zip(learned["layers"], uniform["layers"], strict=True),
             (learned["total"], uniform["total"])]  # fmt: skip
    for pair in pairs:
        for record, precision in zip(pair, ("learned", f"{bits}-bit"), strict=True):
            cells = [str(record["layer"]) if precision == "learned" else "", precision,
                     _bits(record["activation_bits"]), _bits(record["weight_bits"])]  # fmt: skip
            cells += [f"{_cycles(record, d, policy):,.0f}" for d in report["designs"]]
            table.add_row(*cells)
    return table


def inference_energy_table(report: Mapping[str, Any]) -> Table:
    """Cycles and energy (nJ) per inference of each design, at learned and uniform bits."""
    bits = report["uniform_bits"]
    table = Table(title="per inference: cycles and energy (compute + on-chip buffers)")
    for column in ("design", "cycles learned", f"cycles {bits}-bit", "energy learned (nJ)",
                   f"energy {bits}-bit (nJ)"):  # fmt: skip
        table.add_column(column, justify="left" if column == "design" else "right")
    learned, uniform = report["learned"]["per_inference"], report["uniform"]["per_inference"]
    for design in report["designs"]:
        table.add_row(
            _DESIGN_NAMES.get(design, design),
            format_number(learned["cycles"][design]),
            format_number(uniform["cycles"][design]),
            format_number(learned["energy_pj"][design] / 1000.0),
            format_number(uniform["energy_pj"][design] / 1000.0),
        )
    return table


__all__ = ["inference_energy_table", "inference_table"]
