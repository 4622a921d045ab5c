"""The terminal table of a simulation report, built from the `simulation.json` dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table


def simulation_table(report: Mapping[str, Any]) -> Table:
    """One row per layer × operation and a total row: MACs, speedups, energy, processed terms."""
    area = report["area"]
    table = Table(
        title=f"{report['config']['name']}: {area['term_serial_tiles']} term-serial tiles vs "
        f"{area['baseline_tiles']} bit-parallel tiles (area ratio {area['ratio']:.2f})"
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


__all__ = ["simulation_table"]
