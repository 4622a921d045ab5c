"""The figures of the quickstart report, drawn from a validated `QuickstartReport`.

Each function returns PNG bytes (or None when the report has nothing to draw). Figures are
built with `matplotlib.figure.Figure` and the Agg canvas directly — no pyplot, so no global
state and no display is needed — and every variant keeps one colour across all figures.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from thrifty.report.schema import (
    BOUND_POLICIES,
    TENSOR_CLASSES,
    QuickstartReport,
    VariantResult,
)

FIGURE_WIDTH_IN = 10.0
"""Width of every figure (inches); at FIGURE_DPI this is the PNG's width in pixels / 100."""

FIGURE_DPI = 100
"""Resolution of the embedded PNGs (dots per inch)."""

PANEL_HEIGHT_IN = 3.2
"""Height of one row of panels (inches)."""

VARIANT_COLOURS: dict[str, str] = {
    "float32": "#4c72b0",
    "pruned": "#dd8452",
    "integer_bits": "#55a868",
    "float_bits": "#c44e52",
}
"""One colour per variant, the same in every figure."""

TERM_COLOURS: dict[str, str] = {
    "zero": "#b0b0b0",
    "out_of_bounds": "#8172b3",
    "processed": "#4c72b0",
}
"""Colours of the three term classes in the stacked bars."""

OP_LABELS: dict[str, str] = {
    "forward": "forward",
    "backward_data": "backward data",
    "backward_weight": "backward weight",
    "total": "whole step",
}

BITS_HEADROOM = 1.3
"""The bits panels' y range is this times the tallest bar, leaving room for the legend."""

BF16_BITS_PER_VALUE = 16
"""Uncompressed size of a bfloat16 value (bits): the codec figure's reference line."""


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    return buffer.getvalue()


def _figure(columns: int, rows: int = 1) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(FIGURE_WIDTH_IN, PANEL_HEIGHT_IN * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    return figure, [ax for row in axes for ax in row]


def _style(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _policy_title(policy: str) -> str:
    return f"{policy} sync (upper bound)" if policy in BOUND_POLICIES else f"{policy} sync"


def _grouped_ratio_figure(
    report: QuickstartReport, value: Callable[[VariantResult, str, str], float], ylabel: str
) -> bytes:
    """Bars per variant, grouped by training operation, one panel per sync policy."""
    policies = list(report.hardware.sync_policies)
    ops = [*(op.op for op in report.variants[0].ops), "total"]
    figure, axes = _figure(len(policies))
    width = 0.8 / len(report.variants)
    x = np.arange(len(ops))
    for ax, policy in zip(axes, policies, strict=True):
        for index, variant in enumerate(report.variants):
            heights = [value(variant, op, policy) for op in ops]
            ax.bar(
                x + (index - (len(report.variants) - 1) / 2) * width,
                heights,
                width,
                label=variant.label,
                color=VARIANT_COLOURS[variant.name],
            )
        ax.axhline(1.0, color="black", linewidth=0.8, zorder=0.5)
        ax.set_ylim(bottom=0)
        ax.set_xticks(x, [OP_LABELS[op] for op in ops], rotation=20, fontsize=8)
        ax.set_title(_policy_title(policy), fontsize=10)
        _style(ax)
    axes[0].set_ylabel(ylabel)
    figure.legend(
        *axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=4, fontsize=8
    )
    return _png(figure)


def _op_of(variant: VariantResult, op: str):
    return variant.total if op == "total" else next(o for o in variant.ops if o.op == op)


def speedup_figure(report: QuickstartReport) -> bytes:
    """Speedup over bit-parallel bfloat16 at iso-area, per variant, operation and policy."""
    return _grouped_ratio_figure(
        report,
        lambda v, op, p: _op_of(v, op).speedup[p],
        "speedup vs bit-parallel (×)",
    )


def energy_figure(report: QuickstartReport) -> bytes:
    """Energy efficiency over bit-parallel bfloat16 at iso-area, like `speedup_figure`."""
    return _grouped_ratio_figure(
        report,
        lambda v, op, p: _op_of(v, op).energy_efficiency[p],
        "energy efficiency vs bit-parallel (×)",
    )


def terms_figure(report: QuickstartReport) -> bytes:
    """Stacked shares of zero / out-of-bounds / processed terms, per variant and operation."""
    figure, axes = _figure(len(report.variants))
    for ax, variant in zip(axes, report.variants, strict=True):
        records = [*variant.ops, variant.total]
        bottom = np.zeros(len(records))
        for kind, colour in TERM_COLOURS.items():
            shares = np.array(
                [getattr(r.terms, kind) / r.terms.total if r.terms.total else 0.0 for r in records]
            )
            ax.bar(
                range(len(records)),
                shares,
                bottom=bottom,
                color=colour,
                label=kind.replace("_", "-"),
            )
            bottom += shares
        ax.set_xticks(range(len(records)), [OP_LABELS[r.op] for r in records], rotation=30)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(variant.label, fontsize=9)
        _style(ax)
    axes[0].set_ylabel("share of terms")
    figure.legend(
        *axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8
    )
    return _png(figure)


def sweep_policies(report: QuickstartReport) -> list[str]:
    """The sync policies the report's iso-area sweep covers, in the report's order."""
    swept = {p for v in report.variants for point in v.iso_area_sweep for p in point.speedup}
    return [p for p in report.hardware.sync_policies if p in swept]


def sweep_figure(report: QuickstartReport) -> bytes | None:
    """Whole-step speedup against the term-serial : bit-parallel area ratio, per policy."""
    policies = sweep_policies(report)
    if not policies:
        return None
    figure, axes = _figure(len(policies))
    for ax, policy in zip(axes, policies, strict=True):
        for variant in report.variants:
            points = sorted(
                (p for p in variant.iso_area_sweep if policy in p.speedup),
                key=lambda p: p.area_ratio,
            )
            ax.plot(
                [p.area_ratio for p in points],
                [p.speedup[policy] for p in points],
                marker="o",
                markersize=3,
                label=variant.label,
                color=VARIANT_COLOURS[variant.name],
            )
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.axvline(report.hardware.area_ratio, color="grey", linewidth=0.8, linestyle="--")
        ax.set_xlabel("term-serial PEs per bit-parallel PE area")
        ax.set_title(_policy_title(policy), fontsize=10)
        _style(ax)
    axes[0].set_ylabel("speedup (×)")
    figure.legend(
        *axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=4, fontsize=8
    )
    return _png(figure)


_BIT_FIELDS = (
    ("weight_bits", "weights", "///"),
    ("activation_bits", "activations", ""),
    ("gradient_bits", "output gradients", ".."),
)


def bits_figure(report: QuickstartReport) -> bytes | None:
    """Learned bits per layer: one panel per variant that learns bits."""
    variants = [v for v in report.variants if v.bits_kind != "none"]
    if not variants:
        return None
    figure, axes = _figure(len(variants))
    for ax, variant in zip(axes, variants, strict=True):
        fields = [
            f for f in _BIT_FIELDS if any(getattr(r, f[0]) is not None for r in variant.layers)
        ]
        x = np.arange(len(variant.layers))
        width = 0.8 / max(len(fields), 1)
        for index, (field, label, hatch) in enumerate(fields):
            heights = [getattr(r, field) or 0.0 for r in variant.layers]
            ax.bar(
                x + (index - (len(fields) - 1) / 2) * width,
                heights,
                width,
                label=label,
                color=VARIANT_COLOURS[variant.name],
                alpha=1.0 - 0.3 * index,
                hatch=hatch,
                edgecolor="white",
            )
        ax.set_xticks(x, [r.layer for r in variant.layers], fontsize=8)
        unit = "significand fraction bits" if variant.bits_kind == "mantissa" else "integer bits"
        ax.set_ylabel(unit, fontsize=8)
        ax.set_title(variant.label, fontsize=10)
        ax.set_ylim(0, ax.get_ylim()[1] * BITS_HEADROOM)  # room for the legend above the bars
        ax.legend(fontsize=7, loc="upper left", ncols=len(fields))
        _style(ax)
    return _png(figure)


def codec_classes(report: QuickstartReport) -> list[str]:
    """Tensor classes the codec results cover, in the schema's order (weights, activations,
    gradients)."""
    present = {c.tensor_class for v in report.variants for c in v.codec}
    return [name for name in TENSOR_CLASSES if name in present]


def codec_figure(report: QuickstartReport) -> bytes | None:
    """Off-chip codec bits per value, per tensor class and variant, against 16-bit bfloat16."""
    if not any(v.codec for v in report.variants):
        return None
    classes = codec_classes(report)
    figure = Figure(figsize=(FIGURE_WIDTH_IN, PANEL_HEIGHT_IN), layout="constrained")
    ax = figure.subplots()
    x = np.arange(len(classes))
    width = 0.8 / len(report.variants)
    for index, variant in enumerate(report.variants):
        by_class = {c.tensor_class: c.bits_per_value for c in variant.codec}
        ax.bar(
            x + (index - (len(report.variants) - 1) / 2) * width,
            [by_class.get(c, 0.0) for c in classes],
            width,
            label=variant.label,
            color=VARIANT_COLOURS[variant.name],
        )
    ax.axhline(BF16_BITS_PER_VALUE, color="black", linewidth=0.8, linestyle="--")
    ax.text(
        len(classes) - 0.5, BF16_BITS_PER_VALUE, " bfloat16", va="bottom", ha="right", fontsize=8
    )
    ax.set_xticks(x, list(classes))
    ax.set_ylabel("bits per value")
    _style(ax)
    figure.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=4, fontsize=8)
    return _png(figure)


__all__ = [
    "BF16_BITS_PER_VALUE",
    "FIGURE_DPI",
    "VARIANT_COLOURS",
    "bits_figure",
    "codec_classes",
    "codec_figure",
    "energy_figure",
    "speedup_figure",
    "sweep_figure",
    "sweep_policies",
    "terms_figure",
]
