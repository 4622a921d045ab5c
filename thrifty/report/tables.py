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
    """A rich Table of `summary['layers']` (and of `weight_sparsity` for a pruned run), with
    the means in the caption."""
    table = Table(title=title)
    # A pruned run has no learned bits but a weight sparsity per layer: show it as a column.
    sparsity: dict[str, float] = summary.get("weight_sparsity") or {}
    layers = list(summary.get("layers") or []) or [{"name": name} for name in sparsity]
    columns = LAYER_COLUMNS + ((("weight_sparsity", "weight sparsity"),) if sparsity else ())
    for _, header in columns:
        table.add_column(header, justify="left" if header == "layer" else "right")
    for layer in layers:
        fraction = sparsity.get(layer.get("name", ""))
        cells = {**layer, "weight_sparsity": None if fraction is None else f"{fraction:.1%}"}
        table.add_row(*(_cell(cells.get(key)) for key, _ in columns))
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
