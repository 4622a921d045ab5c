"""What every export format reads from a frozen quantized model: its integer bitlengths and
ranges, per tensor, after batch-norm folding.

`deployment_copy(model)` checks that the model can be exported at all (quantized, every enabled
bitlength frozen to an integer, every activation range learned from training data) and returns
an evaluation-mode copy whose fused QuantConvBn layers are folded into plain quantized
convolutions (`thrifty.quant.folding.fold_fused_layers`); the caller's model is left as it was.
`tensor_quantization(name, layer, role)` then gives one `TensorQuantization` per quantized
tensor: its kind, granularity, integer bits and range [lo, hi] per group — the range of the
weight itself for a weight (as the weight quantizer computes it at every call), the moving
average for an activation (what evaluation uses).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from thrifty.errors import ExportError
from thrifty.quant.config import Granularity
from thrifty.quant.folding import fold_fused_layers
from thrifty.quant.layout import Layout, reduce_range
from thrifty.quant.matmul import QuantMatMul
from thrifty.quant.modules import QUANTIZED_MODULE_TYPES
from thrifty.quant.quantizers import Quantizer

ROLES = ("weight", "activation")


@dataclass(frozen=True)
class TensorQuantization:
    """One quantized tensor of a frozen layer. `bits`, `lo`, `hi` have the quantizer's bits
    shape (() per tensor, (O,) per channel, (O, R/G) per weight group, (C/G,) per activation
    group); `layout` turns them into the keepdim shape of the tensor's view."""

    layer: str
    role: str
    kind: str
    granularity: Granularity
    layout: Layout
    bits: torch.Tensor  # int64
    lo: torch.Tensor  # float32
    hi: torch.Tensor  # float32

    @property
    def where(self) -> str:
        """'layer conv1 weight' — for error messages."""
        return f"layer {self.layer!r} {self.role}"


def quantized_layer_list(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) of every quantized layer, in registration order; ExportError if none."""
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, QUANTIZED_MODULE_TYPES)]
    if not layers:
        raise ExportError(
            f"model {type(model).__name__} has no quantized layer to export; quantize it with "
            "thrifty.quantize, train it and call thrifty.freeze before exporting"
        )
    return layers


def _check_frozen(name: str, role: str, quantizer: Quantizer) -> None:
    if not quantizer.config.enabled:
        return
    if quantizer.learned_range:
        raise ExportError(
            f"layer {name!r} {role} quantizer has range='learned'; the export formats store "
            "min/max ranges (weights) and moving-average ranges (inputs) only, so they would "
            "not reproduce it; quantize with range='minmax' to export"
        )
    bits = quantizer.bitlength.detach()
    if quantizer.bitlength.requires_grad or not bool((bits == torch.floor(bits)).all()):
        raise ExportError(
            f"layer {name!r} {role} bitlength {bits.flatten()[:4].tolist()} is still learning "
            "or not an integer; export needs the frozen model: call thrifty.freeze(model) "
            "(and fine-tune) first"
        )


def deployment_copy(model: nn.Module) -> nn.Module:
    """An evaluation-mode copy of a frozen quantized model with its batch norms folded."""
    products = [n for n, m in model.named_modules() if isinstance(m, QuantMatMul)]
    if products:
        raise ExportError(
            f"the export formats do not hold quantized products of two activations "
            f"(QuantMatMul layers {products}); quantize with quantize_matmul=False to export"
        )
    for name, layer in quantized_layer_list(model):
        _check_frozen(name, "weight", layer.weight_quantizer)
        _check_frozen(name, "activation", layer.input_quantizer)
        quantizer = layer.input_quantizer
        if quantizer.config.enabled and int(quantizer.num_batches_tracked) == 0:
            raise ExportError(
                f"layer {name!r} activation range was never learned (no training batch went "
                "through it), so evaluation would use each batch's own range, which no static "
                "format holds; run the model on training data in train() mode first"
            )
    deployed = fold_fused_layers(copy.deepcopy(model))
    return deployed.eval()


def tensor_quantization(name: str, layer: nn.Module, role: str) -> TensorQuantization | None:
    """The bits and ranges of `layer`'s weight or activation quantizer; None when disabled."""
    quantizer = layer.weight_quantizer if role == "weight" else layer.input_quantizer
    if not quantizer.config.enabled:
        return None
    bits = quantizer.bitlength.detach().to(torch.int64)
    if role == "weight":
        viewed, dims, _ = quantizer.layout.view(layer.weight.detach())
        lo, hi = reduce_range(viewed, dims)
        lo, hi = lo.reshape(bits.shape), hi.reshape(bits.shape)
    else:
        lo, hi = quantizer.running_lo.detach(), quantizer.running_hi.detach()
    return TensorQuantization(
        layer=name,
        role=role,
        kind=quantizer.config.kind,
        granularity=quantizer.layout.granularity,
        layout=quantizer.layout,
        bits=bits,
        lo=lo.to(torch.float32).clone(),
        hi=hi.to(torch.float32).clone(),
    )


def refuse_float_mantissa(tensor: TensorQuantization, format_name: str) -> None:
    """ExportError for a float_mantissa quantizer, which no integer format holds."""
    if tensor.kind == "float_mantissa":
        raise ExportError(
            f"{tensor.where} uses the float_mantissa quantizer (a rounded float32 significand), "
            f"which the {format_name} format cannot hold: it stores integer codes; quantize "
            "that layer with kind int or int_symmetric, or exclude it"
        )


__all__ = [
    "ROLES",
    "TensorQuantization",
    "deployment_copy",
    "quantized_layer_list",
    "refuse_float_mantissa",
    "tensor_quantization",
]
