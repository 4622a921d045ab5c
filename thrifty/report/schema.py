"""The schema of the quickstart's `report.json`: what was trained, measured and concluded.

The report is JSON first: these immutable records validate it on the way in and out, and every
table, plot and sentence of `report.html` is generated from it. The records carry everything
the page shows, the claims' verdicts included (they are judged before rendering), and the full
resolved training and hardware configs, so the page computes nothing. Units are in the
key names or stated in the field description; ratios (speedup, energy efficiency) are
unitless and always term-serial against the bit-parallel bfloat16 baseline *at iso compute
area*, so a value above 1 means the term-serial accelerator is better.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from thrifty._config import format_validation_error
from thrifty.errors import ConfigError
from thrifty.hw.config import SYNC_POLICIES, HardwareConfig, SyncPolicy
from thrifty.trace.config import OPS as TRAINING_OPS
from thrifty.trace.config import Op as TrainingOp
from thrifty.train.config import TrainConfig

REPORT_SCHEMA_VERSION = 1
"""Version of the report format; bump it when a field changes meaning or is removed."""

REPORT_KIND = "thrifty.quickstart.report"
"""The `kind` of a quickstart report, so a reader can tell it from other thrifty JSON files."""

VariantName = Literal["float32", "pruned", "integer_bits", "float_bits"]
TensorClass = Literal["weights", "activations", "gradients"]

BOUND_POLICIES: frozenset[str] = frozenset({"ideal"})
"""Policies that are upper bounds, shown but not used to decide whether a claim held."""

VARIANT_NAMES: tuple[str, ...] = ("float32", "pruned", "integer_bits", "float_bits")
TENSOR_CLASSES: tuple[str, ...] = ("weights", "activations", "gradients")

VARIANT_LABELS: dict[str, str] = {
    "float32": "float32 reference",
    "pruned": "pruned",
    "integer_bits": "learned integer bits",
    "float_bits": "learned per-layer float precision",
}
"""Human-readable name of each variant, used in tables, plots and claim sentences."""


class _Record(BaseModel):
    """An immutable result record: unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


PolicyValues = dict[SyncPolicy, float]


class TermCounts(_Record):
    """Terms of the serial operand: every term is zero, out-of-bounds or processed."""

    total: int = Field(ge=0, description="All term slots of the serial operands (terms).")
    zero: int = Field(ge=0, description="Zero terms, skipped (terms).")
    out_of_bounds: int = Field(ge=0, description="Terms below the accumulator window (terms).")
    processed: int = Field(ge=0, description="Effectual terms, one lane-cycle each (terms).")

    @model_validator(mode="after")
    def _adds_up(self) -> TermCounts:
        if self.zero + self.out_of_bounds + self.processed != self.total:
            raise ValueError(
                f"zero {self.zero} + out_of_bounds {self.out_of_bounds} + processed "
                f"{self.processed} != total {self.total}; each term is exactly one of the three"
            )
        return self


class OpSummary(_Record):
    """What the accelerator gains on one training operation (or `total`, all three together)
    of one variant: ratios of the summed simulation records (thrifty.hw's OpResult)."""

    op: TrainingOp | Literal["total"]
    macs: int = Field(ge=0, description="Multiply-accumulates of the operation (MACs).")
    speedup: PolicyValues = Field(
        description="Baseline time / term-serial time at iso compute area, per sync policy."
    )
    energy_efficiency: PolicyValues = Field(
        description="Baseline energy / term-serial energy at iso compute area, per sync policy."
    )
    terms: TermCounts


class LayerPrecision(_Record):
    """Per-layer precision of one variant (None where the variant does not learn it)."""

    layer: str
    weight_bits: float | None = Field(default=None, description="Weight bitlength (bits).")
    activation_bits: float | None = Field(default=None, description="Input bitlength (bits).")
    gradient_bits: float | None = Field(default=None, description="Output-gradient bits (bits).")
    weight_sparsity: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Fraction of zero weights (unitless)."
    )


class SweepPoint(_Record):
    """Speedup of the whole training step at one term-serial : bit-parallel PE area ratio."""

    area_ratio: float = Field(
        gt=0.0, description="Term-serial PEs that fit in the area of one bit-parallel PE."
    )
    speedup: PolicyValues


BaselineName = Literal["dot_product", "per_lane_fma"]
WindowName = Literal["accumulator", "product"]

BASELINE_LABELS: dict[str, str] = {
    "dot_product": "bit-parallel bfloat16 dot-product PEs",
    "per_lane_fma": "per-lane bfloat16 FMA units",
}
"""Human-readable name of each bit-parallel baseline (HardwareConfig.baseline)."""


class BaselineArea(_Record):
    """The iso-area ratio against one baseline and where it came from."""

    baseline: BaselineName
    ratio: float = Field(gt=0.0, description="Term-serial PEs per baseline PE (PEs per PE).")
    hand_count_ratio: float = Field(
        gt=0.0, description="The hand-count area model's ratio, a cross-check (PEs per PE)."
    )
    term_serial_tiles: int = Field(ge=1, description="Term-serial tiles at iso area (tiles).")
    baseline_tiles: int = Field(ge=1, description="Tiles of the baseline accelerator (tiles).")
    source: str = Field(
        description="Where the ratio came from: synthesis (Yosys version, cell library, "
        "design parameters), the hand count, or an override."
    )


class EnergySplit(_Record):
    """A design's energy in the three parts architects read (µJ)."""

    compute_uj: float = Field(ge=0.0, description="PE energy, leakage included (µJ).")
    sram_uj: float = Field(ge=0.0, description="On-chip buffer energy (µJ).")
    dram_uj: float = Field(ge=0.0, description="Off-chip energy (µJ).")
    total_uj: float = Field(ge=0.0, description="compute + SRAM + DRAM (µJ).")


class Comparison(_Record):
    """The whole training step against one baseline, each side with or without the codec."""

    name: str = Field(description="e.g. 'term_serial+codec vs dot_product'.")
    baseline: BaselineName
    term_serial_codec: bool = Field(description="The term-serial design's traffic is encoded.")
    baseline_codec: bool = Field(description="The baseline's off-chip traffic is encoded.")
    speedup: PolicyValues = Field(description="Baseline time / term-serial time, per policy.")
    energy_efficiency_compute: float = Field(description="Baseline / term-serial compute energy.")
    energy_efficiency_compute_sram: float = Field(
        description="Baseline / term-serial energy of compute + SRAM."
    )
    energy_efficiency_total: float = Field(description="Baseline / term-serial total energy.")
    term_serial_energy: EnergySplit
    baseline_energy: EnergySplit


class NumericCost(_Record):
    """Normalised error against float64 (|x − ref| / Σ|products|) over sampled reductions."""

    outputs: int = Field(ge=0, description="Reductions compared (outputs).")
    term_error_mean: float = Field(ge=0.0, description="Term-serial PE, mean (unitless).")
    term_error_max: float = Field(ge=0.0, description="Term-serial PE, max (unitless).")
    baseline_error_mean: float = Field(
        ge=0.0,
        description="Exact-product dot product (exact products, one rounding per step), "
        "mean (unitless).",
    )
    baseline_error_max: float = Field(
        ge=0.0, description="Exact-product dot product, max (unitless)."
    )
    fma_error_mean: float = Field(ge=0.0, description="Per-lane FMA, mean (unitless).")
    fma_error_max: float = Field(ge=0.0, description="Per-lane FMA, max (unitless).")


class WindowResult(_Record):
    """The float32 reference simulated with one out-of-bounds window of the term-serial PE."""

    window: WindowName
    window_bits: int = Field(ge=1, description="Width of the window in force (bits).")
    areas: list[BaselineArea]
    comparisons: list[Comparison] = Field(description="The whole step against both baselines.")
    iso_area_sweep: list[SweepPoint]
    terms: TermCounts
    numeric_cost: NumericCost


class CodecResult(_Record):
    """Off-chip codec on one class of training tensors."""

    tensor_class: TensorClass
    values: int = Field(ge=0, description="Values encoded (values).")
    bits_per_value: float = Field(ge=0.0, description="Encoded size / values (bits per value).")


class VariantResult(_Record):
    """One training variant: how well it learned and what the accelerator gains on it."""

    name: VariantName
    accuracy: float = Field(ge=0.0, le=1.0, description="Test accuracy (fraction).")
    bits_kind: Literal["none", "integer", "mantissa"] = Field(
        description="What `layers[*].*_bits` count: nothing learned, integer bits, or "
        "significand (mantissa) fraction bits of a floating-point format."
    )
    train_seconds: float = Field(ge=0.0, description="Wall time of its training (s).")
    layers: list[LayerPrecision]
    ops: list[OpSummary] = Field(description="forward, backward_data, backward_weight.")
    total: OpSummary = Field(description="All three operations together (op = 'total').")
    iso_area_sweep: list[SweepPoint]
    comparisons: list[Comparison] = Field(
        default_factory=list,
        description="The whole step against both baselines, with and without the codec.",
    )
    codec: list[CodecResult]
    train_config: TrainConfig = Field(description="The resolved config its training ran with.")

    @property
    def label(self) -> str:
        """Human-readable name of the variant."""
        return VARIANT_LABELS[self.name]

    @model_validator(mode="after")
    def _check(self) -> VariantResult:
        ops = [op.op for op in self.ops]
        if len(set(ops)) != len(ops) or "total" in ops:
            raise ValueError(f"variant {self.name!r}: ops {ops} must be distinct training ops")
        if self.total.op != "total":
            raise ValueError(f"variant {self.name!r}: total.op is {self.total.op!r}, not 'total'")
        return self


InferenceDesignName = Literal["term_serial", "bit_serial", "bit_parallel"]
InferencePrecision = Literal["learned", "uniform"]


class InferenceLayer(_Record):
    """One layer of integer inference at one precision: bitlengths and each design's cycles."""

    layer: str
    precision: InferencePrecision = Field(
        description="'learned': the frozen learned bitlengths; 'uniform': every tensor "
        "re-quantized at `InferenceResult.uniform_bits`."
    )
    activation_bits: float = Field(ge=0.0, description="Mean activation bitlength (bits).")
    weight_bits: float = Field(ge=0.0, description="Mean weight bitlength (bits).")
    term_serial_cycles: float = Field(
        ge=0.0, description="Term-serial cycles for all the images, at `sync_policy` (cycles)."
    )
    bit_serial_cycles: float = Field(ge=0.0, description="Bit-serial cycles (cycles).")
    bit_parallel_cycles: float = Field(ge=0.0, description="Bit-parallel cycles (cycles).")


class InferenceDesign(_Record):
    """One integer design at one precision, per inference (one image)."""

    design: InferenceDesignName
    precision: InferencePrecision
    cycles: float = Field(ge=0.0, description="Cycles per inference (cycles).")
    energy_pj: float = Field(
        ge=0.0, description="Energy per inference, compute and on-chip buffers (pJ)."
    )


class InferenceResult(_Record):
    """Integer inference of the learned-integer-bits variant's frozen model on test images.

    Term-serial (Bit-Pragmatic), bit-serial (Stripes) and bit-parallel (DaDianNao) integer
    accelerators of the same PEs and tiles (no iso-area scaling), at the learned bitlengths and
    at uniform bits (docs/simulator.md, "Inference").
    """

    variant: VariantName = Field(description="The variant whose frozen model was simulated.")
    images: int = Field(ge=1, description="Test images simulated (images).")
    uniform_bits: int = Field(ge=1, description="Bitlength of the uniform comparison (bits).")
    sync_policy: SyncPolicy = Field(description="Sync policy of the term-serial cycles.")
    layers: list[InferenceLayer]
    designs: list[InferenceDesign]
    top1_agreement: float = Field(
        ge=0.0, le=1.0, description="Integer pass vs the model's own forward, top-1 (fraction)."
    )
    logits_max_abs_error: float = Field(
        ge=0.0, description="Largest |integer pass − fake-quantized forward| of the logits."
    )


class DatasetInfo(_Record):
    """Which data set was used and, if it was not the preferred one, why."""

    name: str = Field(
        min_length=1,
        description="fashion-mnist or digits for the quickstart's own data; any name for "
        "data given through a replaced load_data stage.",
    )
    fell_back: bool = Field(description="True when Fashion-MNIST was absent and digits was used.")
    reason: str | None = Field(default=None, description="Why the fallback happened.")
    train_examples: int = Field(ge=0, description="Training examples used (examples).")
    test_examples: int = Field(ge=0, description="Test examples used (examples).")
    image_size: int = Field(gt=0, description="Side of the square input image (pixels).")
    num_classes: int = Field(gt=0, description="Number of classes.")


class HardwareInfo(_Record):
    """The comparison every ratio in the report is about."""

    baseline: str = Field(description="What the term-serial accelerator is compared with.")
    area_ratio: float = Field(
        gt=0.0, description="Term-serial PEs per bit-parallel PE at iso compute area (default)."
    )
    sync_policies: list[SyncPolicy]
    headline_baseline: BaselineName = Field(
        "dot_product", description="The baseline of `area_ratio`, `speedup` and the like."
    )
    areas: list[BaselineArea] = Field(
        default_factory=list, description="The iso-area ratio against each baseline."
    )
    preset: str | None = Field(default=None, description="Hardware preset name, if any.")
    config: HardwareConfig = Field(description="The resolved config every variant ran on.")


class Claim(_Record):
    """One of the method's claims, judged on measured numbers."""

    number: int = Field(ge=1)
    baseline: BaselineName | None = Field(
        default=None, description="The baseline this verdict is against, if it has one."
    )
    title: str
    criterion: str = Field(description="What must hold for `held` to be true.")
    held: bool
    numbers: dict[str, float] = Field(description="The measured numbers behind the verdict.")
    sentence: str = Field(description="The verdict in words, with the numbers.")


class QuickstartReport(_Record):
    """The whole of `report.json`."""

    schema_version: Literal[1] = REPORT_SCHEMA_VERSION
    kind: Literal["thrifty.quickstart.report"] = REPORT_KIND
    provenance: dict[str, Any]
    fast: bool = Field(description="True for a `--fast` run (smaller budgets).")
    model: str = Field(description="Model trained by every variant.")
    dataset: DatasetInfo
    hardware: HardwareInfo
    variants: list[VariantResult]
    claims: list[Claim] = Field(default_factory=list)
    windows: list[WindowResult] = Field(
        default_factory=list,
        description="The float32 reference with each out-of-bounds window of the PE.",
    )
    seconds: float | None = Field(default=None, ge=0.0, description="Whole run's wall time (s).")
    inference: InferenceResult | None = Field(
        default=None,
        description="Integer inference cost of the learned-integer-bits model (None: not run).",
    )

    @model_validator(mode="after")
    def _check(self) -> QuickstartReport:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names {names} repeat; each variant appears once")
        return self

    def variant(self, name: str) -> VariantResult | None:
        """The variant called `name`, or None when the report does not have it."""
        return next((v for v in self.variants if v.name == name), None)


def load_report(data: Mapping[str, Any]) -> QuickstartReport:
    """Validate a report dict (as read from `report.json`), naming every problem."""
    try:
        return QuickstartReport.model_validate(dict(data))
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, "quickstart report")) from None


def dump_report(report: QuickstartReport) -> dict[str, Any]:
    """The JSON-able dict of `report`, as written to `report.json`."""
    return report.model_dump(mode="json")


__all__ = [
    "BASELINE_LABELS",
    "BOUND_POLICIES",
    "REPORT_KIND",
    "REPORT_SCHEMA_VERSION",
    "SYNC_POLICIES",
    "TENSOR_CLASSES",
    "TRAINING_OPS",
    "VARIANT_LABELS",
    "VARIANT_NAMES",
    "BaselineArea",
    "BaselineName",
    "Claim",
    "CodecResult",
    "Comparison",
    "DatasetInfo",
    "EnergySplit",
    "HardwareInfo",
    "InferenceDesign",
    "InferenceLayer",
    "InferenceResult",
    "LayerPrecision",
    "NumericCost",
    "OpSummary",
    "QuickstartReport",
    "SweepPoint",
    "SyncPolicy",
    "TermCounts",
    "TrainingOp",
    "VariantResult",
    "WindowName",
    "WindowResult",
    "dump_report",
    "load_report",
]
