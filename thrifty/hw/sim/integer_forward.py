"""Integer forward pass of a frozen learned-bitlength model: codes, integer products, zero points.

A quantized layer multiplies x_q = lo_x + Δx·cx (activation codes cx) by w_q = lo_w + Δw·cw
(weight codes cw), with the ranges and bitlengths the quantizers hold: asymmetric codes lie in
[0, 2^b − 1]; symmetric (`int_symmetric`) codes in [−(2^(b−1) − 1), 2^(b−1) − 1] with lo = 0.
An integer accelerator multiplies the codes only; the zero points (lo) enter as corrections that
need no multiplier array. Lowered like the training simulator (`dataflow.lower`: O = L · R with
L the im2col of the input, K in (channel, kernel row, kernel column) order), per stretch s of the
reduction over which the scales are constant (the whole K for per-tensor activations and
per-tensor or per-channel weights; one input channel, or one weight group, otherwise):

    O[m, n] = Σ_s  Δx_s Δw_sn · (Cx_s · Cw_s)[m, n]          integer product of the codes
                 + Δx_s lo_w,sn · Σ_{k∈s} Cx[m, k]           activation code sums
                 + lo_x,s Δw_sn · (V_s · Cw_s)[m, n]          weight code sums
                 + lo_x,s lo_w,sn · Σ_{k∈s} V[m, k]           constant

V[m, k] is 1 where L holds a real input value and 0 where it holds the convolution's zero
padding: padding is a real zero, not the code 0 (which stands for lo_x), so the accelerator
feeds code 0 there and the corrections leave those positions out. The integer products are
computed exactly (float64 holds every partial sum of codes below 2^53), the corrections in
float64; adding the bias gives the layer's output, which equals the fake-quantized float forward
up to float32 rounding (the tests check it). Everything between quantized layers (ReLU, pooling,
batch norm, float layers) runs as the model defines it, on the host.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from thrifty.errors import SimulationError
from thrifty.hw.sim.dataflow import LayerGeometry, assemble_output, geometry_from_dict, lower
from thrifty.quant.functional import level_step
from thrifty.quant.fused import FUSED_MODULE_TYPES
from thrifty.quant.matmul import QuantMatMul
from thrifty.quant.modules import QUANTIZED_MODULE_TYPES, QuantConv1d, QuantLinear
from thrifty.quant.quantizers import ActivationQuantizer, Quantizer, WeightQuantizer

#: Quantizer kinds with integer codes.
INTEGER_KINDS = ("int", "int_symmetric")
#: Largest exactly representable integer in float64: bound of a partial sum of code products.
_EXACT_FLOAT64 = 2**53


@dataclass(frozen=True)
class Codes:
    """Integer codes of one tensor and, per value, the scale, offset and bitlength behind them.

    `codes` (int64) has the tensor's shape; `step`, `lo` (float64) and `bits` (int64) broadcast
    against it with the quantizer's keepdim shape expanded to the tensor; `signed` is True for
    symmetric codes (sign-magnitude on the accelerator).
    """

    codes: torch.Tensor
    step: torch.Tensor
    lo: torch.Tensor
    bits: torch.Tensor
    signed: bool


@dataclass(frozen=True)
class IntegerLayer:
    """One quantized layer as an integer accelerator runs it, per group of the convolution.

    activation_codes[g]: (M, K) int64 codes of the lowered input (code 0 at padding);
    weight_codes[g]: (K, N) int64; activation_bits[g]: (K,) bitlength of each reduction index;
    weight_bits[g]: (K, N). `kernel_positions` = kernel height × width (K = channels × it).
    `max_abs_error`: largest |integer-pass output − fake-quantized float output| of the layer on
    the same input; `max_abs_output`: largest |output|, for scale.
    """

    name: str
    geometry: LayerGeometry
    activation_codes: tuple[np.ndarray, ...]
    weight_codes: tuple[np.ndarray, ...]
    activation_bits: tuple[np.ndarray, ...]
    weight_bits: tuple[np.ndarray, ...]
    kernel_positions: int
    max_abs_error: float
    max_abs_output: float


def check_integer_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The quantized layers of `model`, each checked to have integer codes and bitlengths.

    Raises SimulationError naming the layer for a model without quantized layers, a disabled
    or floating-point (float_mantissa) quantizer, or a bitlength that is not an integer (a model
    that was not frozen).
    """
    products = [n for n, m in model.named_modules() if isinstance(m, QuantMatMul)]
    if products:
        raise SimulationError(
            f"integer inference does not simulate quantized products of two activations "
            f"(QuantMatMul layers {products}); quantize with quantize_matmul=False, or "
            "simulate a training trace, where these products are supported"
        )
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, QUANTIZED_MODULE_TYPES)]
    if not layers:
        raise SimulationError(
            f"model {type(model).__name__} has no quantized layer: integer inference needs a "
            "model quantized by thrifty.quantize and frozen by thrifty.freeze"
        )
    for name, layer in layers:
        if isinstance(layer, FUSED_MODULE_TYPES):  # it multiplies W·γ/σ, not its `weight`
            raise SimulationError(
                f"layer {name!r} ({type(layer).__name__}) still holds its batch norm: its "
                "multiplied weight is the folded one; call thrifty.fold_batchnorm(model) first"
            )
        for role, quantizer in (("weight", layer.weight_quantizer),
                                ("activation", layer.input_quantizer)):  # fmt: skip
            kind = quantizer.config.kind
            if not quantizer.config.enabled or kind not in INTEGER_KINDS:
                what = "disabled (float)" if not quantizer.config.enabled else f"kind {kind!r}"
                raise SimulationError(
                    f"layer {name!r}: the {role} quantizer is {what}; integer inference needs "
                    f"integer codes (kinds {list(INTEGER_KINDS)}) for every weight and input of "
                    "a quantized layer: exclude the layer from quantization or use an int kind"
                )
            bits = quantizer.bitlength.detach()
            if not bool((bits == torch.round(bits)).all()):
                raise SimulationError(
                    f"layer {name!r}: the {role} bitlength {bits.flatten()[:4].tolist()} is not "
                    "an integer; integer inference needs a frozen model (thrifty.freeze, or "
                    "the run folder of a finished `thrifty train`)"
                )
    return layers


def _codes(quantizer: Quantizer, x: torch.Tensor, use_average: bool) -> Codes:
    """Codes of x with the quantizer's range and bitlength, in the quantizer's own arithmetic.

    float32 ops in the order of `thrifty.quant.functional._int_level`, so lo + step·code equals
    the quantizer's output bit for bit.
    """
    viewed, dims, keep = quantizer.layout.view(x)
    symmetric = quantizer.config.kind == "int_symmetric"
    clamp = False
    if quantizer.learned_range:  # range="learned": the range parameters, values clipped
        lo = quantizer.range_lo.detach().reshape(keep).to(x.dtype)
        hi = quantizer.range_hi.detach().reshape(keep).to(x.dtype)
        clamp = True
    elif use_average:
        lo = quantizer.running_lo.reshape(keep).to(x.dtype)
        hi = quantizer.running_hi.reshape(keep).to(x.dtype)
        clamp = True
    else:
        lo, hi = viewed.amin(dim=dims, keepdim=True), viewed.amax(dim=dims, keepdim=True)
    b = quantizer.bitlength.detach().reshape(keep).to(x.dtype)
    if symmetric:
        levels = torch.exp2(b - 1.0) - 1.0
        scale = torch.maximum(lo.abs(), hi.abs())
        step = level_step(scale, levels)
        codes = torch.div(viewed, step).round_()
        if clamp:
            codes = torch.maximum(torch.minimum(codes, levels), -levels)
        offset = torch.zeros_like(step)
    else:
        levels = torch.exp2(b) - 1.0
        span = hi - lo
        step = level_step(span, levels)
        codes = torch.div(viewed - lo, step).round_()
        if clamp:
            codes = torch.maximum(torch.minimum(codes, levels), torch.zeros_like(levels))
        offset = lo

    def full(t: torch.Tensor) -> torch.Tensor:
        return t.expand(viewed.shape).reshape(x.shape)

    return Codes(
        codes=codes.reshape(x.shape).to(torch.int64),
        step=full(step).to(torch.float64),
        lo=full(offset).to(torch.float64),
        bits=full(b).to(torch.int64),
        signed=symmetric,
    )


def weight_codes(layer: nn.Module) -> Codes:
    """Codes of a quantized layer's weight (its range: the weight's own min/max, or the
    learned range)."""
    quantizer: WeightQuantizer = layer.weight_quantizer
    return _codes(quantizer, layer.weight.detach(), use_average=False)


def activation_codes(layer: nn.Module, x: torch.Tensor) -> Codes:
    """Codes of a layer input: the moving-average range (evaluation), else the batch range."""
    quantizer: ActivationQuantizer = layer.input_quantizer
    tracked = int(quantizer.num_batches_tracked) > 0
    return _codes(quantizer, x.detach(), use_average=tracked)


def layer_geometry(layer: nn.Module, x: torch.Tensor, out: torch.Tensor) -> LayerGeometry:
    """The dataflow geometry of a quantized Conv1d/Conv2d/Linear seen with input x, output out."""
    if isinstance(layer, QuantLinear):
        kind = "linear"
        extra = {}
    else:
        kind = "conv1d" if isinstance(layer, QuantConv1d) else "conv2d"
        extra = {
            "stride": layer.stride, "padding": layer.padding, "dilation": layer.dilation,
            "groups": layer.groups, "padding_mode": layer.padding_mode,
        }  # fmt: skip
    return geometry_from_dict({
        "kind": kind, "input_shape": tuple(x.shape), "weight_shape": tuple(layer.weight.shape),
        "output_shape": tuple(out.shape), **extra,
    })  # fmt: skip


def _per_channel(values: torch.Tensor, channel_dim: int) -> np.ndarray:
    """(C,) from a tensor constant along every dimension but the channel one."""
    return values.movedim(channel_dim, -1).reshape(-1, values.shape[channel_dim])[0].numpy()


def _segments(*arrays: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) stretches of the reduction (axis 0) where every array is constant."""
    k = arrays[0].shape[0]
    change = np.zeros(k, dtype=bool)
    for a in arrays:
        flat = a.reshape(k, -1)
        change[1:] |= (flat[1:] != flat[:-1]).any(axis=1)
    starts = [0, *np.flatnonzero(change).tolist()]
    return list(zip(starts, [*starts[1:], k], strict=True))


def dequantized_product(
    cx: np.ndarray,
    valid: np.ndarray,
    step_x: np.ndarray,
    lo_x: np.ndarray,
    cw: np.ndarray,
    step_w: np.ndarray,
    lo_w: np.ndarray,
) -> np.ndarray:
    """O = Σ_k (lo_x + Δx·cx)·valid · (lo_w + Δw·cw) from integer code products (module docstring).

    cx, valid: (M, K); step_x, lo_x: (K,); cw, step_w, lo_w: (K, N). float64 (M, N).
    """
    m, n = cx.shape[0], cw.shape[1]
    bound = float(np.abs(cx).max(initial=0)) * float(np.abs(cw).max(initial=0)) * cx.shape[1]
    if bound >= _EXACT_FLOAT64:
        raise SimulationError(
            f"integer products of this layer may reach {bound:.3g}, beyond float64's exact "
            "integers (2^53); use fewer bits or a shorter reduction"
        )
    cxf, cwf, vf = cx.astype(np.float64), cw.astype(np.float64), valid.astype(np.float64)
    out = np.zeros((m, n), np.float64)
    for a, b in _segments(step_x, lo_x, step_w, lo_w):
        dx, lx, dw, lw = step_x[a], lo_x[a], step_w[a], lo_w[a]
        product = cxf[:, a:b] @ cwf[a:b]  # exact integers: the accelerator's work
        out += dx * dw * product
        out += dx * lw * cxf[:, a:b].sum(axis=1, keepdims=True)
        if lx != 0:
            out += lx * dw * (vf[:, a:b] @ cwf[a:b])
            out += lx * lw * vf[:, a:b].sum(axis=1, keepdims=True)
    return out


def integer_layer(
    name: str, layer: nn.Module, x: torch.Tensor, reference: torch.Tensor
) -> tuple[IntegerLayer, torch.Tensor]:
    """Run one quantized layer on integer codes; returns its record and its float32 output.

    `reference` is the layer's own (fake-quantized float) output on x, for the error check.
    """
    geo = layer_geometry(layer, x, reference)
    act = activation_codes(layer, x)
    wgt = weight_codes(layer)
    channel_dim = x.ndim - layer.input_quantizer.layout.channel_dim_from_end
    step_c = _per_channel(act.step, channel_dim)
    lo_c = _per_channel(act.lo, channel_dim)
    bits_c = _per_channel(act.bits, channel_dim)
    kk = geo.kernel[0] * geo.kernel[1]
    cin_g, cout_g = geo.in_channels // geo.groups, geo.out_channels // geo.groups
    lowered = lower("forward", geo, {"activation": act.codes.double(),
                                     "weight": wgt.codes.double()}, float64=True)  # fmt: skip
    valid = lower("forward", geo, {"activation": torch.ones_like(x, dtype=torch.float64),
                                   "weight": wgt.codes.double()}, float64=True).left  # fmt: skip

    def weight_right(t: torch.Tensor) -> list[np.ndarray]:
        """(K, N) per group, as `lower` builds R = Wᵀ."""
        t = t.reshape(geo.out_channels, -1)
        return [t[g * cout_g : (g + 1) * cout_g].T.numpy() for g in range(geo.groups)]

    w_params, w_lo, w_bits = weight_right(wgt.step), weight_right(wgt.lo), weight_right(wgt.bits)
    outputs, a_codes, w_codes, a_bits, w_bits_out = [], [], [], [], []
    for g in range(geo.groups):
        channels = slice(g * cin_g, (g + 1) * cin_g)

        def per_k(v: np.ndarray, channels: slice = channels) -> np.ndarray:
            return np.repeat(v[channels], kk)  # K order is (channel, kernel position)

        cx = np.rint(lowered.left[g]).astype(np.int64)
        cw = np.rint(lowered.right[g]).astype(np.int64)
        outputs.append(
            dequantized_product(cx, valid[g], per_k(step_c), per_k(lo_c), cw, w_params[g], w_lo[g])
        )
        a_codes.append(cx)
        w_codes.append(cw)
        a_bits.append(per_k(bits_c).astype(np.int64))
        w_bits_out.append(np.ascontiguousarray(w_bits[g]))
    out = assemble_output("forward", geo, outputs)
    if layer.bias is not None:
        bias = layer.bias.detach().double().numpy()
        out = out + (bias[None, :] if geo.kind == "linear" else bias.reshape(1, -1, *(
            (1,) * (out.ndim - 2))))  # fmt: skip
    result = torch.from_numpy(out).to(reference.dtype).reshape(reference.shape)
    ref = reference.detach().double()
    record = IntegerLayer(
        name=name,
        geometry=geo,
        activation_codes=tuple(a_codes),
        weight_codes=tuple(w_codes),
        activation_bits=tuple(a_bits),
        weight_bits=tuple(w_bits_out),
        kernel_positions=kk,
        max_abs_error=float((result.double() - ref).abs().max()) if ref.numel() else 0.0,
        max_abs_output=float(ref.abs().max()) if ref.numel() else 0.0,
    )
    return record, result


@contextmanager
def _integer_hooks(model: nn.Module, records: list[IntegerLayer]) -> Iterator[None]:
    layers = check_integer_layers(model)
    handles = []
    for name, layer in layers:

        def hook(module, inputs, output, name=name):
            record, result = integer_layer(name, module, inputs[0], output)
            records.append(record)
            return result

        handles.append(layer.register_forward_hook(hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass(frozen=True)
class IntegerForward:
    """The integer forward pass of a batch: every quantized layer's record, and both outputs.

    `output` comes from the integer pass (each quantized layer replaced by its integer product
    and corrections); `reference` from the model's own fake-quantized float forward.
    """

    layers: tuple[IntegerLayer, ...]
    output: torch.Tensor
    reference: torch.Tensor


def integer_forward(model: nn.Module, inputs: torch.Tensor) -> IntegerForward:
    """Run `model` (quantized, frozen, in evaluation mode) on `inputs` through integer products.

    Leaves the model as it found it (training flag, hooks). Raises SimulationError for a layer
    whose quantizers do not produce integer codes (see `check_integer_layers`).
    """
    was_training = model.training
    model.eval()
    records: list[IntegerLayer] = []
    try:
        with torch.no_grad():
            reference = model(inputs)
            with _integer_hooks(model, records):
                output = model(inputs)
    finally:
        model.train(was_training)
    return IntegerForward(tuple(records), output, reference)


__all__ = [
    "INTEGER_KINDS",
    "Codes",
    "IntegerForward",
    "IntegerLayer",
    "activation_codes",
    "check_integer_layers",
    "dequantized_product",
    "integer_forward",
    "integer_layer",
    "layer_geometry",
    "weight_codes",
]
