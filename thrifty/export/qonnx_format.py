"""QONNX: `export_qonnx(model, example, path)`, any learned bitlength in a `Quant` node.

QONNX (Pappalardo et al., arXiv:2206.07527; PyPI `qonnx`) adds the operator
`Quant(x, scale, zeropt, bitwidth; signed, narrow, rounding_mode)` =
(clip(round(x/scale + zeropt), min_int, max_int) − zeropt)·scale to ONNX, with any bitwidth.
Each quantized layer of the frozen model becomes one Quant node on its input and one on its
weight, the bitwidth input holding the learned bitlength:

- int (asymmetric): Sub(x, lo) → Quant(scale Δ = (hi − lo)/(2^b − 1), zeropt 0, unsigned,
  not narrow: codes 0 … 2^b − 1) → Add(lo). That is thrifty's formula Δ·round((x − lo)/Δ) + lo
  operation for operation, so for the same input the values are the same bit for bit; the
  zero point stays 0 (what FINN-style flows expect) and the offset lo is explicit.
- int_symmetric: Quant(scale Δ = max(|lo|, |hi|)/(2^(b−1) − 1), zeropt 0, signed, narrow:
  codes −(2^(b−1) − 1) … 2^(b−1) − 1), as thrifty.
- per-group weight bitlengths: the weight is reshaped to (O, R/G, G) around its Quant node.

A tensor whose channels or groups learned different bitlengths gets the widest one as the
node's (scalar) bitwidth — the qonnx executor and FINN read a scalar — and, for activations,
a per-channel clip to each channel's own range, so the values stay thrifty's; the per-channel
bitlengths are in the file's metadata (`thrifty_bitlengths`). The float_mantissa quantizer is
refused (ExportError).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
import torch
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.cleanup import cleanup_model
from torch import nn

from thrifty._io import write_bytes_atomic
from thrifty._process_state import preserved_process_state
from thrifty.export.graph import INPUT_NAME, OUTPUT_NAME, activation_axis, build_twin, to_onnx
from thrifty.export.metadata import attach_metadata
from thrifty.export.params import TensorQuantization, refuse_float_mantissa
from thrifty.quant.functional import level_step

#: The operator domain of the qonnx custom operators.
QONNX_DOMAIN = "qonnx.custom_op.general"
QONNX_OPSET = 13


class _QuantOp(torch.autograd.Function):
    """QONNX's Quant in PyTorch (for the trace), exported as the Quant node itself."""

    @staticmethod
    def forward(ctx, x, scale, zeropt, bitwidth, signed: int, narrow: int):  # type: ignore[override]
        if signed:
            top = torch.exp2(bitwidth - 1.0) - 1.0
            bottom = -top if narrow else -top - 1.0
        else:
            bottom = torch.zeros_like(bitwidth)
            top = torch.exp2(bitwidth) - 1.0 - (1.0 if narrow else 0.0)
        codes = torch.round(torch.clamp(x / scale + zeropt, bottom, top))
        return (codes - zeropt) * scale

    @staticmethod
    def symbolic(g, x, scale, zeropt, bitwidth, signed: int, narrow: int):  # type: ignore[override]
        node = g.op(
            f"{QONNX_DOMAIN}::Quant",
            x,
            scale,
            zeropt,
            bitwidth,
            signed_i=signed,
            narrow_i=narrow,
            rounding_mode_s="ROUND",
        )
        node.setType(x.type())  # same shape and type as the input: the exporter needs them
        return node


class QonnxQuant(nn.Module):
    """One tensor's quantizer as QONNX nodes (see the module docstring). Parameters are stored
    in the keepdim shape of the tensor (or of its (O, R/G, G) view for per-group weights)."""

    def __init__(
        self,
        step: torch.Tensor,
        offset: torch.Tensor | None,
        bitwidth: float,
        clip: tuple[torch.Tensor, torch.Tensor] | None,
        view: tuple[int, ...] | None,
    ) -> None:
        super().__init__()
        self.signed = int(offset is None)
        self.view = view
        self.register_buffer("step", step.to(torch.float32))
        self.register_buffer("zeropt", torch.zeros((), dtype=torch.float32))
        self.register_buffer("bitwidth", torch.tensor(float(bitwidth)))
        self.register_buffer("offset", None if offset is None else offset.to(torch.float32))
        self.clip = clip is not None
        if clip is not None:
            self.register_buffer("clip_lo", clip[0])
            self.register_buffer("clip_hi", clip[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        if self.view is not None:
            x = x.reshape(self.view)
        if self.offset is not None:
            x = x - self.offset
        if self.clip:
            x = torch.minimum(torch.maximum(x, self.clip_lo), self.clip_hi)
        x = _QuantOp.apply(x, self.step, self.zeropt, self.bitwidth, self.signed, self.signed)
        if self.offset is not None:
            x = x + self.offset
        return x.reshape(shape) if self.view is not None else x


def _keep_shape(quant: TensorQuantization, rank: int) -> tuple:
    """(keepdim shape of the parameters, view shape or None) for one tensor."""
    kind = quant.granularity.kind
    if kind == "tensor":
        return (1,) * rank, None
    if quant.role == "weight":
        out_channels = quant.bits.shape[0]
        if kind == "channel":
            return (out_channels,) + (1,) * (rank - 1), None
        groups = quant.bits.shape[1]
        return (out_channels, groups, 1), (out_channels, groups, -1)
    keep = [1] * rank
    keep[activation_axis(quant, rank)] = -1
    return tuple(keep), None


def _qonnx_module(quant: TensorQuantization, rank: int) -> nn.Module:
    refuse_float_mantissa(quant, "QONNX")
    bits = quant.bits.to(torch.float32)
    lo, hi = quant.lo, quant.hi
    if quant.role == "activation" and quant.granularity.kind == "group":
        size = quant.granularity.group_size  # the same parameters for each channel of a group
        bits, lo, hi = (t.repeat_interleave(size) for t in (bits, lo, hi))
    keep, view = _keep_shape(quant, rank)
    symmetric = quant.kind == "int_symmetric"
    if symmetric:
        levels = torch.exp2(bits - 1.0) - 1.0
        scale = torch.maximum(lo.abs(), hi.abs())
        step = level_step(scale, levels)
        bottom, top, offset = -levels * step, levels * step, None
    else:
        levels = torch.exp2(bits) - 1.0
        span = hi - lo
        step = level_step(span, levels)
        bottom, top, offset = torch.zeros_like(step), levels * step, lo.reshape(keep)
    widest = float(bits.max())
    mixed = bool((bits != widest).any())
    clip = None
    if quant.role == "activation" and mixed:  # each channel's own range (see the docstring)
        clip = (bottom.reshape(keep), top.reshape(keep))
    return QonnxQuant(step.reshape(keep), offset, widest, clip, view)


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename tensor `old` to `new` wherever the graph names it."""
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for info in (*graph.input, *graph.output, *graph.value_info):
        if info.name == old:
            info.name = new


def export_qonnx(
    model: nn.Module,
    example: torch.Tensor,
    path: str | Path,
    opset: int = QONNX_OPSET,
    provenance: dict[str, Any] | None = None,
) -> onnx.ModelProto:
    """Write the frozen quantized `model` as QONNX to `path` (atomically); returns it.

    The graph's shapes are static, those of `example` (batch size included), as QONNX tools
    expect. Run it with `qonnx.core.onnx_exec.execute_onnx(ModelWrapper(path), {"input": x})`.
    """
    twin = build_twin(model, example, _qonnx_module)
    exported = to_onnx(twin, example, opset, custom_opsets={QONNX_DOMAIN: 1}, dynamic_batch=False)
    # qonnx's own clean-up: shapes inferred, constants (Identity copies of shared parameter
    # tensors included) folded into initializers, Quant nodes kept
    with preserved_process_state():  # qonnx names tensors with Python's global `random`
        exported = cleanup_model(ModelWrapper(exported)).model
    _rename(exported.graph, exported.graph.input[0].name, INPUT_NAME)  # clean-up renamed them
    _rename(exported.graph, exported.graph.output[0].name, OUTPUT_NAME)
    attach_metadata(exported, model, "qonnx", provenance)
    write_bytes_atomic(path, exported.SerializeToString())
    return exported


__all__ = ["QONNX_DOMAIN", "QonnxQuant", "export_qonnx"]
