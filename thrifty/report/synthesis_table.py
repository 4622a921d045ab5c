"""The terminal table of synthesis results, built from the `synthesized_area.json` dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table


def synthesis_table(results: Mapping[str, Any]) -> Table:
    """One row per design: cell area, cells, transistors, area per MAC lane, logic depth."""
    library = results["liberty"]
    table = Table(title=f"{results['yosys_version']}, cell library {library['name']}")
    for column in ("design", "params", "area µm²", "cells", "transistors", "µm² per MAC lane",
                   "logic depth"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("design", "params") else "right")
    for record in results["designs"]:
        params = ", ".join(f"{k}={v}" for k, v in record["params"].items())
        transistors = record["transistors"]
        table.add_row(
            record["design"],
            params,
            f"{record['area_um2']:,.1f}",
            f"{record['cells']:,}",
            "n/a" if transistors is None else f"{transistors:,}",
            f"{record['area_um2'] / record['lanes']:,.1f}",
            str(record["logic_depth"]),
        )
    return table
