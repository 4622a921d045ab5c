"""The per-layer table of a run: weight and activation bits, elements and MACs per layer."""

from __future__ import annotations

from typing import Any

from rich.table import Table

#: Columns of the per-layer table: (record key, header).
LAYER_COLUMNS = (
    ("name", "layer"),
    ("weight_bits", "weight bits"),
    ("activation_bits", "activation bits"),
    ("weight_elements", "weight elements"),
    ("macs", "MACs"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return f"{sum(value) / len(value):.3f} (mean of {len(value)})" if value else "-"
    return str(value)


def layer_table(summary: dict[str, Any], title: str | None = None) -> Table:
    """A rich Table of `summary['layers']` with the means in the caption."""
    table = Table(title=title)
    for _, header in LAYER_COLUMNS:
        table.add_column(header, justify="left" if header == "layer" else "right")
    for layer in summary.get("layers") or []:
        table.add_row(*(_cell(layer.get(key)) for key, _ in LAYER_COLUMNS))
    means = [
        f"{key} {_cell(summary.get(key))}"
        for key in ("mean_weight_bits", "mean_activation_bits", "mean_bits")
    ]
    accuracy = [
        f"{key} {100 * summary[key]:.2f}%"
        for key in ("float_accuracy", "final_accuracy")
        if summary.get(key) is not None
    ]
    table.caption = " · ".join(means + accuracy)
    return table
