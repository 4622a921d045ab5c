"""ONNX with QuantizeLinear/DequantizeLinear pairs: `export_onnx(model, example, path)`.

Every quantized layer at ≤ 8 bits becomes [Clip →] QuantizeLinear → DequantizeLinear on its
input, DequantizeLinear of an int8/uint8 initializer for its weight, then the float Conv/Gemm:
the "QDQ" form that onnxruntime (and TensorRT, ...) run as integer kernels.

Parameters, per tensor or per channel, from the frozen model's learned ranges [lo, hi]:

- int (asymmetric, uint8): scale Δ = (hi − lo)/(2^b − 1), zero point z = round(−lo/Δ).
  ONNX's zero point is an integer, thrifty's grid starts at lo, which is a multiple of Δ only
  when lo = 0 (e.g. after a ReLU) — there the export is exact. Elsewhere the grid moves by
  |lo + z·Δ| ≤ Δ/2, so a value may land one step away from thrifty's: each quantized value is
  within one step Δ of thrifty's (`docs/export.md`).
- int_symmetric (int8): scale Δ = max(|lo|, |hi|)/(2^(b−1) − 1), zero point 0: the same grid.
- activations are clipped first to the grid's ends, (0 − z)·Δ and (2^b − 1 − z)·Δ, as thrifty
  clamps codes to 2^b levels in evaluation (ONNX would saturate only at the type's 256).

Refused with ExportError: more than 8 bits, the float_mantissa quantizer, per-group weight
bitlengths (ONNX's per-axis parameters follow one axis; the groups run along the flattened
reduction), and a zero point outside the 8-bit type (a range far from 0 at 8 bits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from thrifty._io import write_bytes_atomic
from thrifty.errors import ExportError
from thrifty.export.graph import activation_axis, build_twin, to_onnx
from thrifty.export.metadata import attach_metadata
from thrifty.export.params import TensorQuantization, refuse_float_mantissa
from thrifty.quant.functional import level_step

#: ONNX opset of the export: per-axis QuantizeLinear/DequantizeLinear need 13.
QDQ_OPSET = 13
MAX_QDQ_BITS = 8


class QDQ(nn.Module):
    """[clip →] fake quantization that the exporter writes as QuantizeLinear → DequantizeLinear.

    `axis` None: per tensor (`scale`, `zero_point` scalars); else per channel along `axis`.
    """

    def __init__(
        self,
        scale: torch.Tensor,
        zero_point: torch.Tensor,
        quant_range: tuple[int, int],
        axis: int | None,
        clip: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> None:
        super().__init__()
        self.axis = axis
        self.quant_min, self.quant_max = quant_range
        self.register_buffer("scale", scale.to(torch.float32))
        self.register_buffer("zero_point", zero_point.to(torch.int32))
        self.clip = clip is not None
        if clip is not None:
            self.register_buffer("clip_lo", clip[0])
            self.register_buffer("clip_hi", clip[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.axis is None:
            if self.clip:
                x = torch.clamp(x, float(self.clip_lo), float(self.clip_hi))
            return torch.fake_quantize_per_tensor_affine(
                x, float(self.scale), int(self.zero_point), self.quant_min, self.quant_max
            )
        if self.clip:
            x = torch.minimum(torch.maximum(x, self.clip_lo), self.clip_hi)
        return torch.fake_quantize_per_channel_affine(
            x, self.scale, self.zero_point, self.axis, self.quant_min, self.quant_max
        )


def qdq_parameters(quant: TensorQuantization) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """(scale, integer zero point, (qmin, qmax)) per group, checked to fit the 8-bit types."""
    refuse_float_mantissa(quant, "ONNX QDQ")
    widest = int(quant.bits.max())
    if widest > MAX_QDQ_BITS:
        raise ExportError(
            f"{quant.where} has a {widest}-bit bitlength; ONNX QuantizeLinear holds at most "
            f"{MAX_QDQ_BITS} bits (int8/uint8); use --format qonnx or packed, or cap the layer "
            "with an override (max_bits: 8) and fine-tune"
        )
    bits = quant.bits.to(torch.float32)
    if quant.kind == "int_symmetric":
        levels = torch.exp2(bits - 1.0) - 1.0
        scale = torch.maximum(quant.lo.abs(), quant.hi.abs())
        step = level_step(scale, levels)
        return step, torch.zeros_like(step, dtype=torch.int32), (-128, 127)
    span = quant.hi - quant.lo
    step = level_step(span, torch.exp2(bits) - 1.0)
    zero_point = torch.round(-quant.lo / step)
    bad = (zero_point < 0) | (zero_point > 255)
    if bool(bad.any()):
        index = int(bad.flatten().nonzero()[0])
        raise ExportError(
            f"{quant.where}: range [{float(quant.lo.flatten()[index]):.6g}, "
            f"{float(quant.hi.flatten()[index]):.6g}] at {int(quant.bits.flatten()[index])} bits "
            f"needs zero point {int(zero_point.flatten()[index])}, outside uint8's [0, 255] "
            "(the range lies far from 0); use --format qonnx or packed, or the int_symmetric "
            "quantizer for that layer"
        )
    return step, zero_point.to(torch.int32), (0, 255)


def _qdq_module(quant: TensorQuantization, rank: int) -> nn.Module:
    step, zero_point, quant_range = qdq_parameters(quant)
    granularity = quant.granularity.kind
    if quant.role == "weight":
        if granularity == "group":
            raise ExportError(
                f"{quant.where} has per-group bitlengths (group of "
                f"{quant.granularity.group_size}); ONNX QDQ parameters follow one axis only; "
                "use --format qonnx or packed, or weight granularity 'channel'"
            )
        axis = None if granularity == "tensor" else 0
        return QDQ(step, zero_point, quant_range, axis, None)
    bits = quant.bits.to(torch.float32)
    top = (
        torch.exp2(bits - 1.0) - 1.0
        if quant.kind == "int_symmetric"
        else torch.exp2(bits) - 1.0 - zero_point
    )
    bottom = -top if quant.kind == "int_symmetric" else -zero_point.to(torch.float32)
    clip_lo, clip_hi = bottom * step, top * step
    if granularity == "tensor":
        return QDQ(step, zero_point, quant_range, None, (clip_lo, clip_hi))
    if granularity == "group":  # the same parameters for each channel of a group
        size = quant.granularity.group_size
        step, zero_point = step.repeat_interleave(size), zero_point.repeat_interleave(size)
        clip_lo, clip_hi = clip_lo.repeat_interleave(size), clip_hi.repeat_interleave(size)
    axis = activation_axis(quant, rank)
    shape = [1] * rank
    shape[axis] = -1
    clip = (clip_lo.reshape(shape), clip_hi.reshape(shape))
    return QDQ(step, zero_point, quant_range, axis, clip)


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:  # in topological order: an Identity follows what it copies
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type == "Identity" and node.input[0] in values:
            values[node.output[0]] = values[node.input[0]]
    return values


def fold_weight_quantizers(model: onnx.ModelProto) -> onnx.ModelProto:
    """Replace each QuantizeLinear of a constant (a weight) by its int8/uint8 result, so the
    file stores integer weights read by DequantizeLinear (ONNX's semantics: round half to even
    of x/scale, plus the zero point, saturated)."""
    graph = model.graph
    constants = _constants(graph)
    kept = []
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or not all(i in constants for i in node.input[:3]):
            kept.append(node)
            continue
        x, scale, zero_point = (constants[i] for i in node.input[:3])
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1:  # per axis: broadcast along `axis`
            shape = [1] * x.ndim
            shape[axis] = -1
            scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
        info = np.iinfo(zero_point.dtype)
        codes = np.rint(x.astype(np.float32) / scale.astype(np.float32))
        codes = np.clip(codes + zero_point.astype(np.float32), info.min, info.max)
        graph.initializer.append(
            numpy_helper.from_array(codes.astype(zero_point.dtype), node.output[0])
        )
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in graph.node for name in node.input}
    unused = [init for init in graph.initializer if init.name not in used]
    for init in unused:
        graph.initializer.remove(init)
    return model


def export_onnx(
    model: nn.Module,
    example: torch.Tensor,
    path: str | Path,
    opset: int = QDQ_OPSET,
    provenance: dict[str, Any] | None = None,
) -> onnx.ModelProto:
    """Write the frozen quantized `model` as ONNX QDQ to `path` (atomically); returns it.

    `example`: one input batch (any batch size; the exported batch dimension is dynamic).
    `provenance`: more entries for the file's metadata (e.g. the run's config and seed).
    """
    twin = build_twin(model, example, _qdq_module)
    exported = fold_weight_quantizers(to_onnx(twin, example, opset))
    attach_metadata(exported, model, "onnx_qdq", provenance)
    onnx.checker.check_model(exported)
    write_bytes_atomic(path, exported.SerializeToString())
    return exported


__all__ = ["MAX_QDQ_BITS", "QDQ", "QDQ_OPSET", "export_onnx", "fold_weight_quantizers"]
