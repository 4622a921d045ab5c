"""QuantConfig: what `thrifty.quantize` does to each layer, validated up front.

Weights and input activations are configured separately (`weight`, `activation`), each by a
`QuantizerConfig`: the quantizer kind, the granularity of its bitlengths and ranges, the initial
bitlength, its bounds, and whether it is learned. Per-layer `overrides` pick layers by a glob
pattern over module names and replace some of those settings; `exclude` keeps layers in float.

At the YAML edge granularity is spelled `"tensor"`, `"channel"` or `["group", G]`; inside the
library it is a `Granularity` value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, model_validator

from thrifty._config import FrozenConfig

#: The kinds of quantizer (docs/design.md §3): asymmetric min-max integer, symmetric signed
#: integer, and rounding of a float32 significand to k fraction bits (bfloat16-style).
QuantizerKind = Literal["int", "int_symmetric", "float_mantissa"]

#: Where an integer quantizer's range comes from: min/max of the data (the method's default, no
#: gradient) or learned parameters (an LSQ-style step / PACT-style clip, `learned_range.py`).
RangeKind = Literal["minmax", "learned"]

#: Widest integer bitlength: b + 1 = 17 keeps 2^(b+1) − 1 levels exact in float32 arithmetic.
MAX_INT_BITS = 16
#: float32 holds 23 fraction bits; the interpolation reads k + 1, so k ≤ 22.
MAX_MANTISSA_BITS = 22
#: bfloat16 keeps 7 fraction bits: the default upper bound of the float_mantissa kind.
BFLOAT16_FRACTION_BITS = 7

#: Per kind: (smallest allowed bitlength, largest allowed, default initial, default min, max).
#: int needs ≥ 1 bit (2 levels); int_symmetric ≥ 2 bits (−1, 0, +1 steps); a significand may
#: keep 0 fraction bits (powers of two only).
KIND_LIMITS: dict[str, tuple[float, float, float, float, float]] = {
    "int": (1.0, MAX_INT_BITS, 8.0, 2.0, MAX_INT_BITS),
    "int_symmetric": (2.0, MAX_INT_BITS, 8.0, 2.0, MAX_INT_BITS),
    "float_mantissa": (
        0.0,
        MAX_MANTISSA_BITS,
        BFLOAT16_FRACTION_BITS,
        0.0,
        BFLOAT16_FRACTION_BITS,
    ),
}


@dataclass(frozen=True)
class Granularity:
    """Which values share one bitlength and one range.

    `tensor`: the whole tensor. `channel`: each output channel of a weight (dim 0), each input
    channel of an activation (dim 1 of a convolution input, the last dim of a linear input).
    `group`: `group_size` consecutive values along the reduction dimension — for a weight, of
    each output channel's flattened (in_channels/groups × kernel) row; for an activation,
    `group_size` consecutive input channels.
    """

    kind: Literal["tensor", "channel", "group"]
    group_size: int | None = None

    def __post_init__(self) -> None:
        if self.kind == "group" and (self.group_size is None or self.group_size < 1):
            raise ValueError(
                f"granularity ('group', {self.group_size!r}) needs a positive group size, "
                "e.g. ['group', 8]"
            )
        if self.kind != "group" and self.group_size is not None:
            raise ValueError(f"granularity {self.kind!r} takes no group size")

    def to_yaml(self) -> str | list[Any]:
        """The YAML spelling: "tensor", "channel" or ["group", G]."""
        return ["group", self.group_size] if self.kind == "group" else self.kind

    def __str__(self) -> str:
        return f"group{self.group_size}" if self.kind == "group" else self.kind


def _parse_granularity(value: Any) -> Granularity:
    if isinstance(value, Granularity):
        return value
    if value in ("tensor", "channel"):
        return Granularity(value)
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and value[0] == "group"
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    ):
        return Granularity("group", value[1])
    raise ValueError(
        f"granularity {value!r} is not one of 'tensor', 'channel' or ['group', G] with an integer G"
    )


GranularityField = Annotated[
    Granularity,
    BeforeValidator(_parse_granularity),
    PlainSerializer(lambda g: g.to_yaml(), return_type=Any),
]


class QuantizerConfig(FrozenConfig):
    """How one tensor (a layer's weight or its input activation) is quantized.

    `init_bits`, `min_bits` and `max_bits` default per kind (see `KIND_LIMITS`): 8 / 2 / 16 for
    the integer kinds, 7 / 0 / 7 fraction bits for float_mantissa.
    """

    enabled: bool = Field(True, description="Quantize this tensor at all (False: keep float).")
    kind: QuantizerKind = Field("int", description="Quantizer: int, int_symmetric, float_mantissa.")
    granularity: GranularityField = Field(
        Granularity("tensor"),
        description="Values sharing a bitlength: 'tensor', 'channel' or ['group', G].",
    )
    init_bits: float = Field(
        None, description="Initial bitlength, bits (fraction bits for float_mantissa)."
    )
    min_bits: float = Field(None, description="Lower clamp of the learned bitlength, bits.")
    max_bits: float = Field(None, description="Upper clamp of the learned bitlength, bits.")
    learnable: bool = Field(True, description="Learn the bitlength (False: fixed at init_bits).")
    range: RangeKind = Field(
        "minmax",
        description="Range of the integer kinds: 'minmax' (data min/max, no gradient) or "
        "'learned' (range parameters initialised at min/max, LSQ-style gradient).",
    )

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        kind = data.get("kind", "int")
        if kind in KIND_LIMITS:
            _, _, init, low, high = KIND_LIMITS[kind]
            for key, default in (("init_bits", init), ("min_bits", low), ("max_bits", high)):
                if data.get(key) is None:
                    data[key] = default
        return data

    @model_validator(mode="after")
    def _bounds(self) -> QuantizerConfig:
        floor, ceiling = KIND_LIMITS[self.kind][:2]
        if not floor <= self.min_bits <= self.max_bits <= ceiling:
            raise ValueError(
                f"bits bounds min_bits={self.min_bits}, max_bits={self.max_bits} must satisfy "
                f"{floor} <= min_bits <= max_bits <= {ceiling} for kind {self.kind!r}"
            )
        if not self.min_bits <= self.init_bits <= self.max_bits:
            raise ValueError(
                f"init_bits={self.init_bits} is outside [min_bits, max_bits] = "
                f"[{self.min_bits}, {self.max_bits}]; move it inside or widen the bounds"
            )
        if self.range == "learned" and self.kind == "float_mantissa":
            raise ValueError(
                "range='learned' needs an integer kind ('int' or 'int_symmetric'); "
                "kind 'float_mantissa' has no range: use range='minmax' or an integer kind"
            )
        return self


class QuantizerOverride(FrozenConfig):
    """Settings that replace the global ones for matching layers; None keeps the global value."""

    enabled: bool | None = Field(None, description="See QuantizerConfig.enabled.")
    kind: QuantizerKind | None = Field(None, description="See QuantizerConfig.kind.")
    granularity: GranularityField | None = Field(None, description="See QuantizerConfig.")
    init_bits: float | None = Field(None, description="Initial bitlength, bits.")
    min_bits: float | None = Field(None, description="Lower clamp, bits.")
    max_bits: float | None = Field(None, description="Upper clamp, bits.")
    learnable: bool | None = Field(None, description="See QuantizerConfig.learnable.")
    range: RangeKind | None = Field(None, description="See QuantizerConfig.range.")

    def apply(self, base: QuantizerConfig) -> QuantizerConfig:
        """`base` with this override's set fields replaced (and re-validated).

        Changing the kind resets the bit bounds the override does not set to that kind's
        defaults, so `{kind: float_mantissa}` alone is valid.
        """
        changes = self.model_dump(exclude_none=True)
        merged = base.model_dump()
        if "kind" in changes and changes["kind"] != base.kind:
            for key in ("init_bits", "min_bits", "max_bits"):
                merged[key] = None
        merged.update(changes)
        return QuantizerConfig.model_validate(merged)


#: Special patterns naming the first / last quantizable layer in module registration order.
FIRST_LAYER = "@first"
LAST_LAYER = "@last"


class LayerOverride(FrozenConfig):
    """Per-layer settings for the layers whose qualified name matches `pattern`."""

    pattern: str = Field(
        ...,
        description="fnmatch glob over module names (e.g. 'conv1', 'layer1.*'), or '@first' / "
        "'@last' for the first / last quantizable layer.",
    )
    weight: QuantizerOverride = Field(QuantizerOverride(), description="Weight changes.")
    activation: QuantizerOverride = Field(QuantizerOverride(), description="Input changes.")


class QuantConfig(FrozenConfig):
    """Everything `thrifty.quantize` needs; `QuantConfig.model_validate(yaml_mapping)` works.

    Example (YAML)::

        weight: {granularity: channel, init_bits: 8}
        activation: {granularity: tensor}
        overrides:
          - {pattern: "@first", weight: {learnable: false}, activation: {learnable: false}}
        exclude: ["@last"]
    """

    schema_version: Literal[1] = Field(1, description="Version of this config's layout.")
    weight: QuantizerConfig = Field(QuantizerConfig(), description="Weight quantizers.")
    activation: QuantizerConfig = Field(QuantizerConfig(), description="Input quantizers.")
    activation_ema_momentum: float = Field(
        0.1,
        gt=0.0,
        le=1.0,
        description="Weight of each training batch's min/max in the activation range EMA "
        "used in evaluation (1: last batch only).",
    )
    activation_training_range: Literal["batch", "ema"] = Field(
        "batch",
        description="Activation range in training: 'batch' (each batch's min/max, the "
        "method's default) or 'ema' (the moving average of evaluation, updated with the batch "
        "first; values outside it are clipped).",
    )
    quantize_matmul: bool = Field(
        False,
        description="Also quantize the products of two activations computed through "
        "thrifty.quant.MatMul modules (attention's Q·Kᵀ and softmax·V): both operands, per "
        "tensor, with the activation settings.",
    )
    fold_batchnorm: bool = Field(
        False,
        description="Fold each Conv1d/Conv2d → BatchNorm pair into one quantized convolution "
        "whose quantized weight is the folded one (batch statistics with a correction in "
        "training, running statistics in evaluation; docs/quantization.md).",
    )
    overrides: list[LayerOverride] = Field(
        default_factory=list, description="Per-layer changes; later entries win."
    )
    exclude: list[str] = Field(
        default_factory=list,
        description="Patterns (as in overrides) of layers to keep in float.",
    )

    @model_validator(mode="after")
    def _overrides_valid(self) -> QuantConfig:
        for index, override in enumerate(self.overrides):
            for role in ("weight", "activation"):
                try:
                    getattr(override, role).apply(getattr(self, role))
                except ValueError as error:
                    raise ValueError(
                        f"overrides[{index}] (pattern {override.pattern!r}).{role} gives an "
                        f"invalid setting: {error}"
                    ) from None
        return self


class TermsConfig(FrozenConfig):
    """Options of the `terms` regularizer criterion (docs/quantization.md, "The terms criterion").

    The cost is the expected number of terms a term-serial PE spends per value of the serial
    operand, MAC-weighted over the layers like `bitops`.
    """

    serial: Literal["activations", "weights", "both"] = Field(
        "activations",
        description="Operand fed term by term: 'activations' (the inference accelerators of "
        "this family, Pragmatic-style, and the training simulator's forward default), "
        "'weights', or 'both' (each layer counts both, MAC-weighted: unit terms per value).",
    )
    statistic: Literal["mean", "lane_max"] = Field(
        "mean",
        description="'mean': mean terms per serial value (linear in the bitlength's fraction, "
        "exact gradient). 'lane_max': expected maximum over `lanes` values drawn independently "
        "from the layer's term distribution, since a PE step lasts as long as its busiest lane.",
    )
    lanes: int = Field(
        8, ge=1, le=64, description="Lanes of a PE step, for statistic 'lane_max' (values)."
    )
    encoding: Literal["naf", "binary", "booth4"] = Field(
        "naf", description="Term encoding of the serial values (thrifty.numerics.terms)."
    )
    codes: Literal["centred", "raw"] = Field(
        "centred",
        description="Integer value counted for an asymmetric ('int') quantizer: 'centred', "
        "the code minus its zero point (an accelerator subtracting zero points first); 'raw', "
        "the code in [0, 2^b − 1] as `thrifty simulate --inference` multiplies it. Equal "
        "when the range starts at 0 (after a ReLU).",
    )
