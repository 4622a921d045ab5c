"""Training operations of Conv1d/Conv2d/Linear lowered to matrix products fed to PEs.

Every operation becomes, per group, a product O = L · R with L of shape (P, K) and R of shape
(K, Q): the reduction runs over K in the order of the columns of L. Which factor is streamed
serially (term by term) into the PEs is chosen later (`serial` in the accelerator config); the
other is bit-parallel. docs/design.md §5:

- forward:          O = act ∗ W. L = im2col(act) (batch × output positions, in-channels/g ×
                    kernel), R = Wᵀ (in-channels/g × kernel, out-channels/g).
- backward_data:    dAct = G ∗ rot180(W)ᵀ. G is zero-dilated by the stride (the inserted zeros are
                    real zeros that reach the PEs and may be skipped), padded by d·(k−1) − p on
                    each side (plus the rows the forward's floor division dropped), and convolved
                    with stride 1 and the forward's dilation. L = im2col(that) (batch × input
                    positions, out-channels/g × kernel), R = flipped, transposed W.
- backward_weight:  dW = G ⋆ act. L = Gᵀ (out-channels/g, batch × output positions),
                    R = im2col(act) (batch × output positions, in-channels/g × kernel).

A Linear layer is the 1 × 1 case over the flattened leading dimensions; a Conv1d is a Conv2d of
height 1. A product of two activations (kind "matmul", e.g. attention's Q·Kᵀ) is lowered by
`thrifty.hw.sim.products`: one group per batch index. The K order is (channel, kernel row,
kernel column) for convolutions' kernels and (batch, output row, output column) for
backward_weight.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from thrifty.errors import SimulationError
from thrifty.hw.sim.products import (
    ProductGeometry,
    assemble_product,
    lower_product,
    product_geometry,
    product_shape_of,
)
from thrifty.trace.config import OPS

#: The two operands of each operation, in the order (left factor L, right factor R).
OPERANDS: dict[str, tuple[str, str]] = {
    "forward": ("activation", "weight"),
    "backward_data": ("grad_output", "weight"),
    "backward_weight": ("grad_output", "activation"),
}


@dataclass(frozen=True)
class LayerGeometry:
    """A layer's shapes, normalised to 2-D convolutions (Linear: 1×1 kernel, Conv1d: height 1).

    `padding` is (top, bottom, left, right); `batch` counts every leading position of a Linear
    input (batch × sequence), whose `in_hw`/`out_hw` are (1, 1).
    """

    kind: str
    batch: int
    in_channels: int
    out_channels: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    dilation: tuple[int, int]
    groups: int


@dataclass(frozen=True)
class ProductShape:
    """Shape of one lowered operation: `groups` independent products of (M, K) · (K, N)."""

    groups: int
    m: int
    k: int
    n: int

    @property
    def macs(self) -> int:
        """Multiply-accumulates fed to the PEs, zeros included."""
        return self.groups * self.m * self.k * self.n


@dataclass(frozen=True)
class MatrixProduct:
    """The factors of one lowered operation, one entry per group, float32 numpy arrays.

    `left[g]` is (P, K), `right[g]` is (K, Q); `left_name`/`right_name` name the trace operands.
    """

    op: str
    left: tuple[np.ndarray, ...]
    right: tuple[np.ndarray, ...]
    left_name: str
    right_name: str

    @property
    def shape(self) -> ProductShape:
        """Groups and (M, K, N) of the product."""
        p, k = self.left[0].shape
        return ProductShape(len(self.left), p, k, self.right[0].shape[1])


def _pair(value: Any, n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    values = tuple(int(v) for v in value)
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise SimulationError(f"{name}={value!r} has {len(values)} entries; expected {n}")
    return values


def geometry_from_dict(geometry: Mapping[str, Any]) -> LayerGeometry | ProductGeometry:
    """Normalise a trace geometry dict (kind, input/weight/output shapes, stride, ...)."""
    kind = geometry.get("kind")
    if kind == "matmul":
        return product_geometry(geometry)
    if kind not in ("conv1d", "conv2d", "linear"):
        raise SimulationError(
            f"layer kind {kind!r} cannot be simulated; supported kinds: conv1d, conv2d, linear, "
            "matmul"
        )
    in_shape = tuple(int(v) for v in geometry["input_shape"])
    w_shape = tuple(int(v) for v in geometry["weight_shape"])
    out_shape = tuple(int(v) for v in geometry["output_shape"])
    if kind == "linear":
        batch = math.prod(in_shape[:-1])
        return LayerGeometry(
            "linear", batch, w_shape[1], w_shape[0], (1, 1), (1, 1), (1, 1), (1, 1),
            (0, 0, 0, 0), (1, 1), 1,
        )  # fmt: skip
    dims = 1 if kind == "conv1d" else 2
    if len(in_shape) != dims + 2:
        raise SimulationError(
            f"{kind} input_shape {in_shape} must have {dims + 2} dimensions (batch, channels, "
            "spatial); unbatched inputs are not supported: add a batch dimension"
        )
    stride = _pair(geometry.get("stride", 1), dims, "stride")
    dilation = _pair(geometry.get("dilation", 1), dims, "dilation")
    kernel = w_shape[2:]
    padding_value = geometry.get("padding", 0)
    if isinstance(padding_value, str):
        if padding_value == "valid":
            pads = [(0, 0)] * dims
        elif padding_value == "same":
            totals = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
            pads = [(t // 2, t - t // 2) for t in totals]
        else:
            raise SimulationError(
                f"padding {padding_value!r} is not understood; use 'valid', 'same' or integers"
            )
    else:
        before = _pair(padding_value, dims, "padding")
        after = _pair(geometry.get("padding_end", before), dims, "padding_end")
        pads = list(zip(before, after, strict=True))
    mode = geometry.get("padding_mode", "zeros")
    if mode != "zeros" and any(pads):
        raise SimulationError(
            f"padding_mode {mode!r} cannot be simulated (only 'zeros'): the input gradient of "
            "reflect/replicate/circular padding is not a convolution; use zero padding"
        )
    if dims == 1:
        stride, dilation, kernel = (1, *stride), (1, *dilation), (1, *kernel)
        pads = [(0, 0), *pads]
        in_hw, out_hw = (1, in_shape[2]), (1, out_shape[2])
    else:
        in_hw, out_hw = (in_shape[2], in_shape[3]), (out_shape[2], out_shape[3])
    return LayerGeometry(
        kind, in_shape[0], in_shape[1], w_shape[0], in_hw, out_hw, tuple(kernel), tuple(stride),
        (pads[0][0], pads[0][1], pads[1][0], pads[1][1]), tuple(dilation),
        int(geometry.get("groups", 1)),
    )  # fmt: skip


#: The operation kinds a report tells apart: a layer's kind, or a product's role.
OPERATION_KINDS: tuple[str, ...] = ("conv", "linear", "attention_qk", "attention_av", "matmul")


def operation_kind(geometry: Mapping[str, Any]) -> str:
    """What a traced operation multiplies: conv, linear, or the role of a product of two
    activations (attention_qk, attention_av, matmul)."""
    kind = geometry.get("kind")
    if kind in ("conv1d", "conv2d"):
        return "conv"
    if kind == "matmul":
        return str(geometry.get("role", "matmul"))
    return str(kind)


def product_shape(geometry: LayerGeometry | ProductGeometry, op: str) -> ProductShape:
    """(groups, M, K, N) of the lowered operation, from the geometry alone."""
    if op not in OPERANDS:
        raise SimulationError(f"unknown operation {op!r}; choose one of {list(OPS)}")
    if isinstance(geometry, ProductGeometry):
        return ProductShape(*product_shape_of(geometry, op))
    g = geometry
    kk = g.kernel[0] * g.kernel[1]
    cin_g, cout_g = g.in_channels // g.groups, g.out_channels // g.groups
    positions_out = g.batch * g.out_hw[0] * g.out_hw[1]
    if op == "forward":
        return ProductShape(g.groups, positions_out, cin_g * kk, cout_g)
    if op == "backward_data":
        return ProductShape(g.groups, g.batch * g.in_hw[0] * g.in_hw[1], cout_g * kk, cin_g)
    if op == "backward_weight":
        return ProductShape(g.groups, cout_g, positions_out, cin_g * kk)
    raise SimulationError(f"unknown operation {op!r}; choose one of {list(OPS)}")


def _as4d(x: torch.Tensor, geometry: LayerGeometry) -> torch.Tensor:
    if geometry.kind == "linear":
        return x.reshape(geometry.batch, -1, 1, 1)
    if geometry.kind == "conv1d":
        return x.unsqueeze(2)
    return x


def _im2col(x: torch.Tensor, geometry: LayerGeometry, pad: Sequence[int], stride, dilation):
    """(N, C, H, W) → (N·L, C·kh·kw) with rows ordered (n, out row, out col): one strided copy."""
    top, bottom, left, right = pad
    x = F.pad(x, (left, right, top, bottom)).contiguous()
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    kh, kw = geometry.kernel
    n, c, h, w = x.shape
    ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    s_n, s_c, s_h, s_w = x.stride()
    view = x.as_strided((n, ho, wo, c, kh, kw), (s_n, s_h * sh, s_w * sw, s_c, s_h * dh, s_w * dw))
    return view.reshape(n * ho * wo, c * kh * kw)


def _dilated_grad(grad: torch.Tensor, geometry: LayerGeometry) -> torch.Tensor:
    """G with stride−1 zeros between positions, padded so a stride-1 conv gives the input size."""
    g = geometry
    n, c, ho, wo = grad.shape
    sh, sw = g.stride
    dil = grad.new_zeros((n, c, (ho - 1) * sh + 1, (wo - 1) * sw + 1))
    dil[:, :, ::sh, ::sw] = grad
    pads = []
    for axis in range(2):
        reach = g.dilation[axis] * (g.kernel[axis] - 1)
        before = reach - g.padding[2 * axis]
        after = g.in_hw[axis] + reach - dil.shape[2 + axis] - before
        pads.append((before, after))
    # F.pad crops where a pad is negative (padding larger than the kernel reach).
    return F.pad(dil, (pads[1][0], pads[1][1], pads[0][0], pads[0][1]))


def lower(
    op: str,
    geometry: LayerGeometry | ProductGeometry,
    tensors: Mapping[str, Any],
    *,
    float64: bool = False,
) -> MatrixProduct:
    """Lower one traced operation to its per-group matrix product (float32 numpy factors).

    `tensors` holds the trace operands: forward {activation, weight}, backward_data
    {grad_output, weight}, backward_weight {grad_output, activation}. The product of the factors
    reproduces torch's convolution, conv-transpose (input gradient) and weight gradient.
    `float64=True` keeps the factors in float64 (for checking the lowering itself).
    """
    if op not in OPERANDS:
        raise SimulationError(f"unknown operation {op!r}; choose one of {list(OPS)}")
    missing = [name for name in OPERANDS[op] if name not in tensors]
    if missing:
        raise SimulationError(
            f"operation {op!r} needs tensors {list(OPERANDS[op])}; missing {missing}"
        )
    return _lower(op, geometry, tensors, torch.float64 if float64 else torch.float32)


def as_tensor(x: Any) -> torch.Tensor:
    """A torch tensor (any float dtype) or array-like as a CPU torch tensor."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    return torch.as_tensor(np.asarray(x))


def _lower(op: str, geometry, tensors: Mapping[str, Any], dtype) -> MatrixProduct:
    g = geometry
    t = {name: as_tensor(tensors[name]).to(dtype) for name in OPERANDS[op]}
    if isinstance(g, ProductGeometry):
        lefts, rights = lower_product(op, g, t)
        return _product(op, lefts, rights)
    groups = g.groups
    cin_g, cout_g = g.in_channels // groups, g.out_channels // groups
    weight = t.get("weight")
    if weight is not None:
        weight = weight.reshape(g.out_channels, cin_g, *g.kernel)
    lefts: list[torch.Tensor] = []
    rights: list[torch.Tensor] = []
    if op == "forward":
        act = _as4d(t["activation"], g)
        for i in range(groups):
            lefts.append(_im2col(act[:, i * cin_g : (i + 1) * cin_g], g, g.padding, g.stride,
                                 g.dilation))  # fmt: skip
            rights.append(weight[i * cout_g : (i + 1) * cout_g].reshape(cout_g, -1).T)
    elif op == "backward_data":
        grad = _dilated_grad(_as4d(t["grad_output"], g), g)
        for i in range(groups):
            lefts.append(
                _im2col(grad[:, i * cout_g : (i + 1) * cout_g], g, (0, 0, 0, 0), 1, g.dilation)
            )
            w = (
                weight[i * cout_g : (i + 1) * cout_g].flip(2, 3).transpose(0, 1)
            )  # (cin_g, cout_g, kh, kw)
            rights.append(w.reshape(cin_g, -1).T)
    else:
        grad = _as4d(t["grad_output"], g)
        act = _as4d(t["activation"], g)
        for i in range(groups):
            gi = grad[:, i * cout_g : (i + 1) * cout_g]
            lefts.append(gi.transpose(0, 1).reshape(cout_g, -1))
            rights.append(_im2col(act[:, i * cin_g : (i + 1) * cin_g], g, g.padding, g.stride,
                                  g.dilation))  # fmt: skip
    return _product(op, lefts, rights)


def _product(op: str, lefts: list[torch.Tensor], rights: list[torch.Tensor]) -> MatrixProduct:
    left_name, right_name = OPERANDS[op]
    to_np = lambda x: np.ascontiguousarray(x.numpy())  # noqa: E731
    return MatrixProduct(
        op, tuple(to_np(x) for x in lefts), tuple(to_np(x) for x in rights), left_name, right_name
    )


def assemble_output(
    op: str, geometry: LayerGeometry | ProductGeometry, outputs: Sequence[np.ndarray]
) -> np.ndarray:
    """Reshape the per-group product results into the operation's tensor layout.

    forward → (batch, out channels, *out spatial); backward_data → (batch, in channels, *in
    spatial); backward_weight → weight shape (out channels, in channels/groups, *kernel). Linear
    layers come back as (batch, features) / (out, in); products of two activations as C, dA
    or dB in the shape of the output, A or B.
    """
    if isinstance(geometry, ProductGeometry):
        return assemble_product(op, geometry, outputs)
    g = geometry
    if op == "backward_weight":
        w = np.concatenate([o.reshape(o.shape[0], -1) for o in outputs], axis=0)
        w = w.reshape(g.out_channels, g.in_channels // g.groups, *g.kernel)
        if g.kind == "linear":
            return w.reshape(g.out_channels, g.in_channels)
        return w[:, :, 0, :] if g.kind == "conv1d" else w
    hw = g.out_hw if op == "forward" else g.in_hw
    per_group = [o.reshape(g.batch, hw[0], hw[1], -1).transpose(0, 3, 1, 2) for o in outputs]
    out = np.concatenate(per_group, axis=1)
    if g.kind == "linear":
        return out.reshape(g.batch, -1)
    return out[:, :, 0, :] if g.kind == "conv1d" else out


__all__ = [
    "OPERANDS",
    "OPERATION_KINDS",
    "LayerGeometry",
    "MatrixProduct",
    "ProductGeometry",
    "ProductShape",
    "assemble_output",
    "geometry_from_dict",
    "lower",
    "operation_kind",
    "product_shape",
]
