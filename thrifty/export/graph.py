"""The export twin, and the ONNX export of it shared by the QDQ and QONNX formats.

Any `nn.Module` that thrifty quantized exports through PyTorch's own ONNX exporter, so every
operator the exporter knows (pooling, residual adds, reshapes, unfolded batch norms, ...) comes
along; thrifty only swaps each quantized layer of the deployment copy (`params.deployment_copy`)
for a `TwinLayer`: the float layer, with a format-specific quantizer module on its input and on
its weight, which the exporter turns into the format's nodes (QuantizeLinear/DequantizeLinear,
or QONNX `Quant`). The exporter records one forward pass on an example input (TorchScript
tracing, `dynamo=False`: it handles the quantize operators and custom symbolic functions);
the graph is the code path that input took, with a dynamic batch dimension (QDQ) or the
example's batch size (QONNX, whose executor and FINN need static shapes).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from functools import partial

import onnx
import torch
import torch.nn.functional as F
from torch import nn

from thrifty.errors import ExportError
from thrifty.export.params import (
    TensorQuantization,
    deployment_copy,
    quantized_layer_list,
    tensor_quantization,
)
from thrifty.quant.quantize import replace_submodule

#: Name of the graph's input and output.
INPUT_NAME, OUTPUT_NAME = "input", "output"

QuantizerFactory = Callable[[TensorQuantization, int], nn.Module]


class TwinLayer(nn.Module):
    """A quantized layer as the exporter should see it: quantize input and weight, then the
    float layer's own operation (convolution or linear) on them."""

    def __init__(self, layer: nn.Module, input_quant: nn.Module, weight_quant: nn.Module):
        super().__init__()
        self.layer = layer
        self.input_quant = input_quant
        self.weight_quant = weight_quant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_quant(x)
        weight = self.weight_quant(self.layer.weight)
        if isinstance(self.layer, nn.Linear):
            return F.linear(x, weight, self.layer.bias)
        return self.layer._conv_forward(x, weight, self.layer.bias)


def activation_axis(quant: TensorQuantization, ndim: int) -> int:
    """The channel axis of an activation of rank `ndim` (for per-channel parameters)."""
    return ndim - quant.layout.channel_dim_from_end


def build_twin(
    model: nn.Module, example: torch.Tensor, make_quantizer: QuantizerFactory
) -> nn.Module:
    """The deployment copy of `model` with every quantized layer a TwinLayer.

    `make_quantizer(tensor_quantization, rank)` builds the quantizer module of one tensor (rank:
    the tensor's number of dimensions, seen on `example`); a disabled quantizer is an identity.
    """
    deployed = deployment_copy(model)
    ranks: dict[str, int] = {}

    def remember_rank(name: str, module: nn.Module, args: tuple) -> None:
        ranks.setdefault(name, args[0].ndim)

    hooks = [
        layer.register_forward_pre_hook(partial(remember_rank, name))
        for name, layer in quantized_layer_list(deployed)
    ]
    try:
        with torch.no_grad():
            deployed(example)
    finally:
        for hook in hooks:
            hook.remove()
    for name, layer in quantized_layer_list(deployed):
        if name not in ranks:
            raise ExportError(
                f"layer {name!r} is not called in a forward pass on the example input, so "
                "its place in the graph is unknown; pass an input that reaches every layer"
            )
        parts = []
        for role, rank in (("activation", ranks[name]), ("weight", layer.weight.ndim)):
            quant = tensor_quantization(name, layer, role)
            parts.append(nn.Identity() if quant is None else make_quantizer(quant, rank))
        replace_submodule(deployed, name, TwinLayer(layer.to_float(), parts[0], parts[1]))
    return deployed


def to_onnx(
    twin: nn.Module,
    example: torch.Tensor,
    opset: int,
    custom_opsets: dict[str, int] | None = None,
    dynamic_batch: bool = True,
) -> onnx.ModelProto:
    """Export the twin with the TorchScript-based exporter; the batch dimension dynamic, or
    fixed at the example's (`dynamic_batch=False`)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the exporter's deprecation notice about dynamo=False
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                twin,
                (example,),
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=(
                    {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
                ),
                custom_opsets=custom_opsets,
                do_constant_folding=True,
            )
        except ExportError:
            raise
        except Exception as error:  # the exporter raises many types for unsupported code
            raise ExportError(
                f"torch.onnx.export cannot export model {type(twin).__name__}: {error}; "
                "the model's forward must use operators ONNX opset "
                f"{opset} has (no data-dependent Python control flow)"
            ) from None
    return onnx.load_from_string(buffer.getvalue())


__all__ = ["INPUT_NAME", "OUTPUT_NAME", "TwinLayer", "activation_axis", "build_twin", "to_onnx"]
