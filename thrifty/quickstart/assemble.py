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
from thrifty.hw.cost.area import iso_area_tiles
from thrifty.hw.sim.inference import DESIGNS, HEADLINE_POLICY, InferenceSimulation
from thrifty.hw.sim.results import SWEEP_POLICY, TERM_CLASSES, OpResult
from thrifty.hw.sim.simulation import Simulation
from thrifty.hw.sim.value_error import NumericCost as MeasuredNumericCost
from thrifty.quant.summary import QuantSummary
from thrifty.report.schema import (
    TRAINING_OPS,
    BaselineArea,
    CodecResult,
    Comparison,
    EnergySplit,
    InferenceDesign,
    InferenceLayer,
    InferenceResult,
    LayerPrecision,
    NumericCost,
    OpSummary,
    SweepPoint,
    TermCounts,
    VariantResult,
    WindowResult,
)
from thrifty.train.config import TrainConfig

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


def _split(energy_pj: Mapping[str, float]) -> EnergySplit:
    return EnergySplit(
        compute_uj=energy_pj["compute_pj"] / 1e6,
        sram_uj=energy_pj["sram_pj"] / 1e6,
        dram_uj=energy_pj["dram_pj"] / 1e6,
        total_uj=energy_pj["total_pj"] / 1e6,
    )


def comparisons(total: OpResult, policies: Sequence[str]) -> list[Comparison]:
    """The whole step against both baselines, each side with or without the codec."""
    return [
        Comparison(
            name=name,
            baseline=c["baseline"],
            term_serial_codec=c["term_serial_codec"],
            baseline_codec=c["baseline_codec"],
            speedup={p: c["speedup"][p] for p in policies},
            energy_efficiency_compute=c["energy_efficiency_compute"],
            energy_efficiency_compute_sram=c["energy_efficiency_compute_sram"],
            energy_efficiency_total=c["energy_efficiency_total"],
            term_serial_energy=_split(c["term_serial_energy_pj"]),
            baseline_energy=_split(c["baseline_energy_pj"]),
        )
        for name, c in total.comparisons.items()
    ]


def baseline_areas(simulation: Simulation) -> list[BaselineArea]:
    """The iso-area ratio against each baseline, with its source, as the simulator used it."""
    config = simulation.config
    tiles = config.tile.tiles
    return [
        BaselineArea(
            baseline=name,
            ratio=b.ratio,
            hand_count_ratio=b.hand_count_ratio,
            term_serial_tiles=iso_area_tiles(tiles, b.ratio) if config.area.iso_area else tiles,
            baseline_tiles=tiles,
            source=b.source.describe(),
        )
        for name, b in simulation.area.baselines.items()
    ]


def numeric_cost(cost: MeasuredNumericCost) -> NumericCost:
    """The report's record of a measured numeric cost."""
    return NumericCost(
        outputs=cost.outputs,
        term_error_mean=cost.term_error_mean,
        term_error_max=cost.term_error_max,
        baseline_error_mean=cost.baseline_error_mean,
        baseline_error_max=cost.baseline_error_max,
        fma_error_mean=cost.fma_error_mean,
        fma_error_max=cost.fma_error_max,
    )


def window_result(
    simulation: Simulation, cost: MeasuredNumericCost, policies: Sequence[str]
) -> WindowResult:
    """The float32 reference under the window of `simulation.config.pe`."""
    pe = simulation.config.pe
    return WindowResult(
        window=pe.window,
        window_bits=pe.window_bits,
        areas=baseline_areas(simulation),
        comparisons=comparisons(simulation.total, policies),
        iso_area_sweep=iso_area_sweep(simulation.total),
        terms=_term_counts(simulation.total.terms),
        numeric_cost=numeric_cost(cost),
    )


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
        comparisons=comparisons(simulation.total, policies),
        codec=codec_results(codec),
        train_config=train_config,
    )


def inference_result(simulation: InferenceSimulation, variant: str) -> InferenceResult:
    """The report's record of an integer inference simulation (per layer, per inference)."""
    layers, designs = [], []
    for precision, run in (("learned", simulation.learned), ("uniform", simulation.uniform)):
        for record in run.layers:
            layers.append(
                InferenceLayer(
                    layer=record.layer,
                    precision=precision,
                    activation_bits=record.activation_bits or 0.0,
                    weight_bits=record.weight_bits or 0.0,
                    term_serial_cycles=record.design_cycles("term_serial"),
                    bit_serial_cycles=record.design_cycles("bit_serial"),
                    bit_parallel_cycles=record.design_cycles("bit_parallel"),
                )
            )
        for design in DESIGNS:
            designs.append(
                InferenceDesign(
                    design=design,
                    precision=precision,
                    cycles=run.total.design_cycles(design) / simulation.images,
                    energy_pj=run.total.energy_pj[design]["total_pj"] / simulation.images,
                )
            )
    learned = simulation.learned
    return InferenceResult(
        variant=variant,
        images=simulation.images,
        uniform_bits=simulation.config.inference.uniform_bits,
        sync_policy=HEADLINE_POLICY,
        layers=layers,
        designs=designs,
        top1_agreement=learned.top1_agreement,
        logits_max_abs_error=learned.logits_max_abs_error,
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
    "baseline_areas",
    "bits_rows",
    "build_variant",
    "codec_results",
    "comparisons",
    "iso_area_sweep",
    "numeric_cost",
    "op_summary",
    "ops_from_simulation",
    "sparsity_rows",
    "window_result",
]
