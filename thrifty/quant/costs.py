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

A `QuantMatMul` (C = A·B of two activations, e.g. attention's Q·Kᵀ) has no weight: its record
describes A by the `activation_*` fields and B by the `weight_*` fields, B's elements counted
per sample like A's. So `bits` counts its two bitlengths, `memory` its two operands' per-sample
elements, and `bitops` its MACs × A bits × B bits.

A quantizer disabled by the config keeps its tensor in float: it carries no bitlength, takes no
part in `bits` and `memory`, and counts as `FLOAT_BITS` in `bitops`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from thrifty.errors import QuantizationError
from thrifty.quant.matmul import QuantMatMul
from thrifty.quant.quantize import quantized_layers

#: Width of a tensor left in float32, for the bit-operation count.
FLOAT_BITS = 32.0

CRITERIA = ("bits", "memory", "bitops")


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


def layer_bits(model: nn.Module) -> list[LayerBits]:
    """A record per quantized layer, in registration order."""
    records = []
    for name, layer in quantized_layers(model):
        if isinstance(layer, QuantMatMul):
            right, elements = layer.other_quantizer, layer.other_elements or 0
        else:
            right, elements = layer.weight_quantizer, layer.weight.numel()
        w_bits, a_bits = right.bits, layer.input_quantizer.bits
        records.append(
            LayerBits(
                name=name,
                type=type(layer).__name__,
                weight_bits=None if w_bits is None else w_bits.mean(),
                activation_bits=None if a_bits is None else a_bits.mean(),
                weight_elements=elements,
                activation_elements=layer.activation_elements,
                macs=layer.macs,
                weight_granularity=str(right.layout.granularity),
                activation_granularity=str(layer.input_quantizer.layout.granularity),
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


CostFunction = Callable[[Sequence[LayerBits]], torch.Tensor]

COST_FUNCTIONS: dict[str, CostFunction] = {
    "bits": bits_cost,
    "memory": memory_cost,
    "bitops": bitops_cost,
}
