"""Per-layer bitlength records and the three cost criteria of docs/design.md §3.

A `LayerBits` record holds, for one quantized layer, its weight and activation bitlengths as
differentiable tensors (the mean over the layer's channels/groups: each group holds the same
number of values) and its sizes: weight elements, per-sample input elements and per-sample MACs
(the last two from the shapes of the last forward pass). The criteria reduce a list of records
to one scalar, each a weighted mean Σ c·n / Σ c so that its unit stays bits:

- `bits`:   c = 1 per quantized tensor — the mean per-layer bitlength (the paper's metric).
- `memory`: c = elements stored: the weight's, and the per-sample input's.
- `bitops`: per layer, c = MACs and n = weight bits × activation bits (unit bits², so the
  cost is the MAC-weighted mean bit product; × Σ MACs gives bit-operations per sample). With
  per-channel/group bitlengths the product of the layer means is used (exact when every weight
  group meets every activation group equally often, as in ungrouped layers).

- `terms`:  per layer, c = MACs and n = the expected terms per value of the serial operand
  (`TermsConfig.serial`), from the term counts its quantizer recorded in the last forward at
  b = floor(n) and b + 1, interpolated with α = n − b as the quantizer interpolates Q: the
  cost's derivative in n is exactly terms(b + 1) − terms(b) (statistic "mean"). Unit: terms
  per serial value (× Σ MACs: term-cycles per sample of a one-lane PE). The quantizers count
  only once `set_term_counting` switched them on (the regularizer does it).

A `QuantMatMul` (C = A·B of two activations, e.g. attention's Q·Kᵀ) has no weight: its record
describes A by the `activation_*` fields and B by the `weight_*` fields, B's elements counted
per sample like A's. So `bits` counts its two bitlengths, `memory` its two operands' per-sample
elements, `bitops` its MACs × A bits × B bits, and `terms` takes A as the "activations" side
and B as the "weights" side.

A quantizer disabled by the config keeps its tensor in float: it carries no bitlength, takes no
part in `bits`, `memory` and `terms` (a float serial operand is not priced), and counts as
`FLOAT_BITS` in `bitops`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from thrifty.errors import QuantizationError
from thrifty.quant.config import TermsConfig
from thrifty.quant.matmul import QuantMatMul
from thrifty.quant.quantize import quantized_layers
from thrifty.quant.term_counts import TermCounting, TermCounts

#: Width of a tensor left in float32, for the bit-operation count.
FLOAT_BITS = 32.0

CRITERIA = ("bits", "memory", "bitops", "terms")


@dataclass(frozen=True)
class LayerTerms:
    """A quantizer's term counts of its last forward and its bitlength (flat, per group, the
    differentiable parameter): together they give the expected terms at the current n."""

    counts: TermCounts
    bits: torch.Tensor


@dataclass(frozen=True)
class LayerBits:
    """One quantized layer's bitlengths (tensors, differentiable) and sizes."""

    name: str
    type: str
    weight_bits: torch.Tensor | None  # a QuantMatMul's right operand B
    activation_bits: torch.Tensor | None  # its left operand A
    weight_elements: int  # a QuantMatMul's B per sample (0 before a forward pass)
    activation_elements: int | None
    macs: int | None
    weight_granularity: str
    activation_granularity: str
    weight_terms: LayerTerms | None = None
    activation_terms: LayerTerms | None = None


def _layer_terms(quantizer) -> LayerTerms | None:
    counts = getattr(quantizer, "term_counts", None)
    if counts is None or not quantizer.config.enabled:
        return None
    return LayerTerms(counts, quantizer.bitlength.reshape(-1))


def _mean(bits: torch.Tensor | None) -> torch.Tensor | None:
    """A bitlength's mean over its groups; a per-tensor bitlength (0-dim) is its own mean, so
    the cost's graph needs no node for it."""
    if bits is None or bits.ndim == 0:
        return bits
    return bits.mean()


def layer_bits(
    model: nn.Module, layers: Sequence[tuple[str, nn.Module]] | None = None
) -> list[LayerBits]:
    """A record per quantized layer, in registration order. `layers`: the model's
    `quantized_layers`, when the caller holds them already (they are looked up otherwise)."""
    records = []
    for name, layer in quantized_layers(model) if layers is None else layers:
        if isinstance(layer, QuantMatMul):
            right, elements = layer.other_quantizer, layer.other_elements or 0
        else:
            right, elements = layer.weight_quantizer, layer.weight.numel()
        w_bits, a_bits = right.bits, layer.input_quantizer.bits
        records.append(
            LayerBits(
                name=name,
                type=type(layer).__name__,
                weight_bits=_mean(w_bits),
                activation_bits=_mean(a_bits),
                weight_elements=elements,
                activation_elements=layer.activation_elements,
                macs=layer.macs,
                weight_granularity=str(right.layout.granularity),
                activation_granularity=str(layer.input_quantizer.layout.granularity),
                weight_terms=_layer_terms(right),
                activation_terms=_layer_terms(layer.input_quantizer),
            )
        )
    return records


def _needs_forward(record: LayerBits, criterion: str) -> None:
    if record.macs is None:
        raise QuantizationError(
            f"criterion {criterion!r} needs the shapes of layer {record.name!r} seen in a "
            "forward pass; run the model on a batch before computing the cost"
        )


def bits_cost(records: Sequence[LayerBits]) -> torch.Tensor:
    """Mean over quantized tensors of their mean bitlength."""
    values = [b for r in records for b in (r.weight_bits, r.activation_bits) if b is not None]
    if not values:
        raise QuantizationError("no quantizer is enabled: every weight and input stays float")
    return torch.stack(values).mean()


def memory_cost(records: Sequence[LayerBits]) -> torch.Tensor:
    """Σ elements·bits / Σ elements over weights and per-sample inputs."""
    total, weight = [], 0
    for record in records:
        _needs_forward(record, "memory")
        for bits, elements in (
            (record.weight_bits, record.weight_elements),
            (record.activation_bits, record.activation_elements),
        ):
            if bits is not None:
                total.append(bits * elements)
                weight += elements
    if not total:
        raise QuantizationError("no quantizer is enabled: every weight and input stays float")
    return torch.stack(total).sum() / weight


def bitops_cost(records: Sequence[LayerBits]) -> torch.Tensor:
    """Σ MACs·w_bits·a_bits / Σ MACs (bits²); float tensors count as FLOAT_BITS."""
    total, macs = [], 0
    for record in records:
        _needs_forward(record, "bitops")
        w = record.weight_bits if record.weight_bits is not None else torch.tensor(FLOAT_BITS)
        a = record.activation_bits
        a = a if a is not None else torch.tensor(FLOAT_BITS)
        total.append(w * a * record.macs)
        macs += record.macs
    return torch.stack(total).sum() / max(macs, 1)


def expected_terms(terms: LayerTerms, statistic: str = "mean", lanes: int = 8) -> torch.Tensor:
    """Expected terms per serial value ("mean") or per PE step ("lane_max") at the current n.

    Each group p mixes its two levels with α_p = n_p − floor(n_p), the quantizer's weight:
    "mean" is the mean over groups of low_p + α_p·(high_p − low_p) (groups hold equally many
    values). "lane_max" takes the layer's term distribution P (the groups' mixed
    distributions, averaged) and returns E[max of `lanes` independent draws] =
    Σ_t (1 − F(t)^lanes), F the cumulative distribution: a smooth function of every α_p.
    """
    counts = terms.counts
    alpha = terms.bits.to(torch.float64) - counts.level
    if not counts.histogram:
        if statistic == "lane_max":
            raise QuantizationError(
                "statistic 'lane_max' needs the term histograms, but the quantizers recorded "
                "means only; switch counting on with set_term_counting(model, "
                "TermsConfig(statistic='lane_max'))"
            )
        value = (counts.low + alpha * (counts.high - counts.low)).mean()
    else:
        mixed = counts.low + alpha[:, None] * (counts.high - counts.low)
        if statistic == "mean":
            value = (mixed.mean(0) * torch.arange(mixed.shape[1], dtype=mixed.dtype)).sum()
        else:
            cumulative = mixed.mean(0).cumsum(0)[:-1].clamp(0.0, 1.0)
            value = (1.0 - cumulative**lanes).sum()
    return value.to(terms.bits.dtype)


def terms_cost(records: Sequence[LayerBits], config: TermsConfig | None = None) -> torch.Tensor:
    """Σ MACs·terms / Σ MACs over the serial operands (terms per serial value)."""
    config = TermsConfig() if config is None else config
    sides = ("weights", "activations") if config.serial == "both" else (config.serial,)
    total, macs = [], 0
    for record in records:
        for side in sides:
            terms = record.weight_terms if side == "weights" else record.activation_terms
            bits = record.weight_bits if side == "weights" else record.activation_bits
            if bits is None:
                continue  # a float serial operand: not priced
            if terms is None:
                raise QuantizationError(
                    f"criterion 'terms' needs the term counts of layer {record.name!r}'s "
                    f"{side[:-1]} quantizer, which has none: switch counting on with "
                    "set_term_counting(model, config) (BitlengthRegularizer(criterion='terms') "
                    "does it) and run the model on a batch before computing the cost"
                )
            if (terms.counts.encoding, terms.counts.centred) != (
                config.encoding,
                config.codes == "centred",
            ):
                raise QuantizationError(
                    f"layer {record.name!r}'s {side[:-1]} quantizer counted "
                    f"{terms.counts.encoding!r} terms of "
                    f"{'centred' if terms.counts.centred else 'raw'} codes, but the cost asks "
                    f"for {config.encoding!r} terms of {config.codes} codes; switch counting on "
                    "with the same TermsConfig "
                    "(set_term_counting(model, config)) and run a forward"
                )
            _needs_forward(record, "terms")
            total.append(expected_terms(terms, config.statistic, config.lanes) * record.macs)
            macs += record.macs
    if not total:
        raise QuantizationError(
            f"criterion 'terms' with serial={config.serial!r} found no quantized serial "
            "operand: every one stays float; quantize them or choose another serial operand"
        )
    return torch.stack(total).sum() / max(macs, 1)


def set_term_counting(model: nn.Module, config: TermsConfig | None) -> None:
    """Make the serial operand's quantizers of every quantized layer record their term counts
    in each forward (the other quantizers stop counting); `config=None` switches all off.

    Counting costs one extra pass over each counted tensor per forward.
    """
    serial = None if config is None else config.serial
    counting = None
    if config is not None:
        counting = TermCounting(
            config.encoding,
            histogram=config.statistic == "lane_max",
            centred=config.codes == "centred",
        )
    for _, layer in quantized_layers(model):
        right = layer.other_quantizer if isinstance(layer, QuantMatMul) else layer.weight_quantizer
        for quantizer, side in (
            (right, "weights"),
            (layer.input_quantizer, "activations"),
        ):
            on = serial is not None and serial in (side, "both")
            quantizer.term_counting = counting if on else None
            quantizer.term_counts = None


CostFunction = Callable[[Sequence[LayerBits]], torch.Tensor]

COST_FUNCTIONS: dict[str, CostFunction] = {
    "bits": bits_cost,
    "memory": memory_cost,
    "bitops": bitops_cost,
    "terms": terms_cost,
}
