"""Turn what the stages produced (typed simulation, codec and training results) into report records.

The simulator's `Simulation` holds one additive `OpResult` per layer × training operation,
their per-operation sums (`by_op()`) and the whole-step sum (`total`). A ratio of sums
(Σ baseline / Σ term-serial) is the speedup of running all those layers one after another,
unlike a mean of per-layer ratios; `OpResult` derives it, and this module only copies it, per
sync policy of the report, into the report's `OpSummary`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from thrifty.errors import SimulationError
from thrifty.hw.codec.accounting import CodecSummary
from thrifty.hw.sim.results import OpResult
from thrifty.hw.sim.simulation import Simulation
from thrifty.quant.summary import QuantSummary
from thrifty.report.schema import (
    TRAINING_OPS,
    CodecResult,
    LayerPrecision,
    OpSummary,
    SweepPoint,
    TermCounts,
    VariantResult,
)
from thrifty.train.config import TrainConfig

SWEEP_POLICY = "tile"
"""The sync policy of the simulator's iso-area sweep (`OpResult.sweep_cycles`)."""

TERM_CLASSES = ("zero", "out_of_bounds", "processed")
"""The classes every term of a serial operand falls in (`OpResult.terms` also holds `total`)."""

CODEC_CLASS_NAMES = {"weight": "weights", "activation": "activations", "gradient": "gradients"}
"""The codec's tensor class names → the report's."""


def _term_counts(terms: Mapping[str, float]) -> TermCounts:
    """Whole term counts; sampled estimates are rounded per class and the total re-added."""
    counts = {name: round(terms[name]) for name in TERM_CLASSES}
    return TermCounts(total=sum(counts.values()), **counts)


def op_summary(result: OpResult, op: str, policies: Sequence[str]) -> OpSummary:
    """The report's record of one (summed) simulation record, under the report's policies."""
    missing = [p for p in policies if p not in result.cycles]
    if missing:
        raise SimulationError(
            f"simulation record of {op!r} lacks sync policies {missing}; it has "
            f"{sorted(result.cycles)}: simulate with every policy of the report"
        )
    speedup = result.speedup
    return OpSummary(
        op=op,
        macs=result.macs,
        speedup={p: speedup[p] for p in policies},
        energy_efficiency=dict.fromkeys(policies, result.energy_efficiency),
        terms=_term_counts(result.terms),
    )


def ops_from_simulation(
    simulation: Simulation, policies: Sequence[str]
) -> tuple[list[OpSummary], OpSummary]:
    """Per-op summaries (in training order) and the whole-step summary of one simulation."""
    by_op = simulation.by_op()
    ops = [op_summary(by_op[op], op, policies) for op in TRAINING_OPS if op in by_op]
    return ops, op_summary(simulation.total, "total", policies)


def iso_area_sweep(total: OpResult) -> list[SweepPoint]:
    """The simulator's whole-step iso-area sweep (tile policy), in increasing area ratio."""
    points = sorted((float(ratio), cycles) for ratio, cycles in total.sweep_cycles.items())
    return [
        SweepPoint(
            area_ratio=ratio,
            speedup={SWEEP_POLICY: _ratio(total.sweep_baseline_cycles, cycles)},
        )
        for ratio, cycles in points
    ]


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


def codec_results(by_class: Mapping[str, CodecSummary]) -> list[CodecResult]:
    """Bits per value of each tensor class the codec measured (classes with values only)."""
    return [
        CodecResult(
            tensor_class=CODEC_CLASS_NAMES.get(name, name),
            values=item.numel,
            bits_per_value=item.encoded_bits / item.numel,
        )
        for name, item in by_class.items()
        if item.numel
    ]


def build_variant(
    name: str,
    accuracy: float,
    train_seconds: float,
    layers: Sequence[LayerPrecision],
    simulation: Simulation,
    codec: Mapping[str, CodecSummary],
    policies: Sequence[str],
    train_config: TrainConfig,
    bits_kind: str = "none",
) -> VariantResult:
    """One variant's record from what its stages produced."""
    ops, total = ops_from_simulation(simulation, policies)
    return VariantResult(
        name=name,
        accuracy=accuracy,
        bits_kind=bits_kind,
        train_seconds=train_seconds,
        layers=list(layers),
        ops=ops,
        total=total,
        iso_area_sweep=iso_area_sweep(simulation.total),
        codec=codec_results(codec),
        train_config=train_config,
    )


def bits_rows(summary: QuantSummary) -> list[LayerPrecision]:
    """Per-layer learned bits of a quantized model (its `thrifty.summary`)."""
    return [
        LayerPrecision(
            layer=row.name, weight_bits=row.weight_bits, activation_bits=row.activation_bits
        )
        for row in summary.records
    ]


def sparsity_rows(sparsity: Mapping[str, float]) -> list[LayerPrecision]:
    """Per-layer weight sparsity of a pruned model (layer name → fraction of zero weights)."""
    return [LayerPrecision(layer=layer, weight_sparsity=value) for layer, value in sparsity.items()]


__all__ = [
    "bits_rows",
    "build_variant",
    "codec_results",
    "iso_area_sweep",
    "op_summary",
    "ops_from_simulation",
    "sparsity_rows",
]
