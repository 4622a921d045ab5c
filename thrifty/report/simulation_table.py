"""The terminal tables of a simulation report, built from the `simulation.json` dict.

`simulation_table`: one row per layer × operation against the headline baseline.
`kind_table`: one row per operation kind (conv, linear, attention products) × operation.
`comparison_table`: the whole trace against both baselines, the term-serial design with its
off-chip codec and without, energy split into compute (PE), on-chip (SRAM) and off-chip (DRAM).
`area_lines`: each baseline's iso-area ratio and where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.table import Table

from thrifty.report.number_format import format_number, format_ratio

_BASELINE_NAMES = {"dot_product": "dot-product", "per_lane_fma": "per-lane FMA"}


def simulation_table(report: Mapping[str, Any]) -> Table:
    """One row per layer × operation and a total row: MACs, speedups, energy, processed terms."""
    area = report["area"]
    baseline = _BASELINE_NAMES.get(area["baseline"], area["baseline"])
    table = Table(
        title=f"{report['config']['name']}: {area['term_serial_tiles']} term-serial tiles vs "
        f"{area['baseline_tiles']} {baseline} tiles (area ratio {area['ratio']:.2f})"
    )
    for column in ("layer", "op", "serial", "MACs", "speedup tile", "row", "ideal",
                   "energy eff.", "processed terms", "bound"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("layer", "op", "serial") else "right")
    short = {"forward": "fwd", "backward_data": "bwd-data", "backward_weight": "bwd-weight"}
    for record in [*report["layers"], report["total"]]:
        speed = record["speedup"]
        terms = record["terms"]
        bound = "memory" if record["cycles"]["tile"] == record["memory_cycles"] else "compute"
        table.add_row(
            str(record["layer"]),
            short.get(record["op"], str(record["op"])),
            str(record["serial_operand"]),
            f"{record['macs']:,}",
            f"{speed['tile']:.2f}",
            f"{speed['row']:.2f}",
            f"{speed['ideal']:.2f}",
            f"{record['energy_efficiency']:.2f}",
            f"{terms['processed'] / max(terms['total'], 1):.1%}",
            bound,
        )
    return table


def kind_table(report: Mapping[str, Any]) -> Table:
    """Per operation kind (conv, linear, attention_qk, attention_av, matmul) and operation:
    MACs, speedup per sync policy and energy efficiency against the headline baseline."""
    table = Table(title="Per operation kind (ratios of the summed records)", box=box.SIMPLE_HEAD)
    for column in ("kind", "op", "MACs", "speedup tile", "row", "ideal", "energy eff."):
        left = column in ("kind", "op")
        table.add_column(column, justify="left" if left else "right", no_wrap=left)
    short = {"forward": "fwd", "backward_data": "bwd-data", "backward_weight": "bwd-weight"}
    for kind, ops in report.get("by_kind", {}).items():
        for op, record in ops.items():
            speed = record["speedup"]
            table.add_row(
                kind,
                short.get(op, op),
                f"{record['macs']:,}",
                format_ratio(speed["tile"]),
                format_ratio(speed["row"]),
                format_ratio(speed["ideal"]),
                format_ratio(record["energy_efficiency"]),
            )
    return table


def _uj(pj: float) -> str:
    return format_number(pj / 1e6, 3)


def comparison_table(report: Mapping[str, Any]) -> Table:
    """The trace's total against both baselines, with and without the off-chip codec.

    Energy columns are "term-serial / baseline" in µJ; SRAM energy is the same for both.
    """
    area = report["area"]["baselines"]
    rows = []
    for name, c in report["total"]["comparisons"].items():
        ts, base = c["term_serial_energy_pj"], c["baseline_energy_pj"]
        rows.append([
            name,
            f"{area[c['baseline']]['term_serial_tiles']}/{report['area']['baseline_tiles']}",
            format_ratio(c["speedup"]["tile"]),
            format_ratio(c["speedup"]["row"]),
            format_ratio(c["speedup"]["ideal"]),
            format_ratio(c["energy_efficiency_compute"]),
            format_ratio(c["energy_efficiency_compute_sram"]),
            format_ratio(c["energy_efficiency_total"]),
            f"{_uj(ts['compute_pj'])} / {_uj(base['compute_pj'])}",
            _uj(ts["sram_pj"]),
            f"{_uj(ts['dram_pj'])} / {_uj(base['dram_pj'])}",
        ])  # fmt: skip
    table = Table(
        title="Whole trace against both baselines: speedup per sync policy, energy efficiency "
        "of compute, compute + SRAM and total (+codec: that design's off-chip traffic is "
        "delta-encoded; µJ: term-serial / baseline)",
        box=box.SIMPLE_HEAD,
    )
    headers = ("comparison", "tiles", "tile", "row", "ideal", "compute", "+SRAM", "total",
               "compute µJ", "SRAM µJ", "DRAM µJ")  # fmt: skip
    for i, header in enumerate(headers):
        width = max((len(row[i]) for row in rows), default=1)
        table.add_column(header, justify="left" if i == 0 else "right", min_width=width)
    for row in rows:
        table.add_row(*row)
    return table


def area_lines(report: Mapping[str, Any]) -> list[str]:
    """One line per baseline: its iso-area ratio, the hand-count cross-check and the source."""
    lines = []
    for name, b in report["area"]["baselines"].items():
        lines.append(
            f"area ratio vs {_BASELINE_NAMES.get(name, name)} PE: {b['ratio']:.3f} "
            f"(hand count {b['hand_count_ratio']:.3f}); from {b['source']['description']}"
        )
    return lines


__all__ = ["area_lines", "comparison_table", "kind_table", "simulation_table"]
