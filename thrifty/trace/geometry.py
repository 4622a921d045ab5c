"""The geometry of one layer call as a plain, JSON-able dict (the store's `geometry` field).

Conv: {"kind": "conv1d"|"conv2d", "input_shape", "weight_shape", "output_shape", "stride",
"padding", "padding_end", "padding_mode", "dilation", "groups", "bias", "dtype"}.
Linear: {"kind": "linear", "input_shape", "weight_shape", "output_shape", "groups": 1, "bias",
"dtype"}. Shapes and per-dimension values are lists of ints. `padding` is the zero padding
before each spatial dimension, resolved to ints also for padding="same"; `padding_end` the
padding after it (it differs from `padding` only for "same" with an even effective kernel,
where PyTorch pads one more at the end).
Matrix product of two activations (format version 2): {"kind": "matmul", "role":
"attention_qk"|"attention_av"|"matmul", "source", "input_shape" (A: [*batch, M, K]),
"weight_shape" (B: [*batch, K, N], or [K, N] shared by every batch index), "output_shape"
([*batch, M, N]), "batch_shape", "m", "k", "n", "b_transposed" (B was passed as a transposed
view, as Kᵀ is), "scale" (the factor applied to the product afterwards, e.g. attention's
1/√d; null if none), "dtype"}. The operands are stored as multiplied: A as `activation`, B as
`weight`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from thrifty.errors import TraceError
from thrifty.quant.matmul import MatMul
from thrifty.trace.config import OPS

#: The layer classes a capture records (quantized subclasses included).
CAPTURED_TYPES: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Linear, MatMul)


def layer_kind(module: nn.Module) -> str:
    """'conv1d', 'conv2d' or 'linear' for a captured layer class (or subclass)."""
    if isinstance(module, nn.Conv2d):
        return "conv2d"
    if isinstance(module, nn.Conv1d):
        return "conv1d"
    if isinstance(module, nn.Linear):
        return "linear"
    raise TypeError(f"{type(module).__name__} is not one of {[t.__name__ for t in CAPTURED_TYPES]}")


def dtype_name(dtype: torch.dtype) -> str:
    """'float32', 'bfloat16', ... (the torch dtype without its 'torch.' prefix)."""
    return str(dtype).removeprefix("torch.")


def _resolved_padding(module: nn.Module) -> tuple[list[int], list[int]]:
    """(padding before, padding after) per spatial dimension, ints also for 'same'/'valid'."""
    padding = module.padding
    if padding == "valid":
        zeros = [0] * len(module.kernel_size)
        return zeros, list(zeros)
    if padding == "same":
        # PyTorch pads dilation * (k - 1) in total: half before, the rest (one more when odd)
        # after (see nn.Conv*'s _reversed_padding_repeated_twice).
        totals = [d * (k - 1) for d, k in zip(module.dilation, module.kernel_size, strict=True)]
        before = [total // 2 for total in totals]
        return before, [t - b for t, b in zip(totals, before, strict=True)]
    return [int(p) for p in padding], [int(p) for p in padding]


def layer_geometry(
    module: nn.Module,
    input_shape: torch.Size,
    weight_shape: torch.Size,
    output_shape: torch.Size,
    dtype: torch.dtype,
) -> dict[str, Any]:
    """The geometry dict of one call of `module` (see the module docstring)."""
    kind = layer_kind(module)
    geometry: dict[str, Any] = {
        "kind": kind,
        "input_shape": list(input_shape),
        "weight_shape": list(weight_shape),
        "output_shape": list(output_shape),
    }
    if kind != "linear":
        before, after = _resolved_padding(module)
        geometry.update(
            stride=[int(s) for s in module.stride],
            padding=before,
            padding_end=after,
            padding_mode=module.padding_mode,
            dilation=[int(d) for d in module.dilation],
            groups=int(module.groups),
        )
    else:
        geometry["groups"] = 1
    geometry["bias"] = module.bias is not None
    geometry["dtype"] = dtype_name(dtype)
    return geometry


def matmul_geometry(
    a: torch.Tensor,
    b: torch.Tensor,
    output_shape: torch.Size,
    dtype: torch.dtype,
    role: str,
    source: str,
    scale: float | None = None,
) -> dict[str, Any] | None:
    """The geometry dict of one product A·B of two activations; None when it is not recorded.

    Recorded: both operands at least 2-D, and B either 2-D (shared by every batch index, as a
    weight is) or with exactly A's batch dimensions (attention's per-head products). Other
    broadcasts and vector products are not recorded (docs/traces.md).
    """
    if a.ndim < 2 or b.ndim < 2:
        return None
    if b.ndim > 2 and tuple(a.shape[:-2]) != tuple(b.shape[:-2]):
        return None
    if a.shape[-1] != b.shape[-2]:
        return None
    return {
        "kind": "matmul",
        "role": role,
        "source": source,
        "input_shape": list(a.shape),
        "weight_shape": list(b.shape),
        "output_shape": list(output_shape),
        "batch_shape": list(a.shape[:-2]),
        "m": int(a.shape[-2]),
        "k": int(a.shape[-1]),
        "n": int(b.shape[-1]),
        "b_transposed": bool(b.shape[-1] > 1 and b.stride(-2) == 1 and b.stride(-1) != 1),
        "scale": None if scale is None else float(scale),
        "dtype": dtype_name(dtype),
    }


def macs(geometry: Mapping[str, Any]) -> int:
    """Multiply-accumulates of the layer's forward pass (dense; zeros and padding counted).

    For a product of two activations: output elements × K; its two gradients, dA = dC·Bᵀ and
    dB = Aᵀ·dC, perform as many.

    Backward-data and backward-weight perform the same number of useful MACs (each product
    act·w of the forward pass appears once as g·w and once as g·act), so this is the count for
    all three operations.
    """
    output_elements = 1
    for size in geometry["output_shape"]:
        output_elements *= size
    if geometry["kind"] == "matmul":  # every output is a K-long dot product
        return output_elements * int(geometry["k"])
    weight_shape = geometry["weight_shape"]
    per_output = 1
    for size in weight_shape[1:]:  # in-channels per group × kernel, or in_features
        per_output *= size
    return output_elements * per_output


def op_macs(geometry: Mapping[str, Any], op: str) -> int:
    """Multiply-accumulates one training operation feeds to a multiplier array, zeros included.

    forward and backward_weight: the forward count (`macs`). backward_data: input elements ×
    output channels per group × kernel size, because it runs over the gradient zero-dilated by
    the stride, whose zeros reach the multipliers (for stride 1 this equals the forward count
    up to the padding's border); for a linear layer all three are the forward count. The
    simulator's lowering (thrifty.hw.sim.dataflow) must feed exactly this many.
    """
    if op not in OPS:
        raise TraceError(f"unknown operation {op!r}; choose one of {list(OPS)}")
    if op != "backward_data" or geometry["kind"] in ("linear", "matmul"):
        return macs(geometry)
    weight_shape = geometry["weight_shape"]
    per_input = weight_shape[0] // int(geometry.get("groups", 1))
    for size in weight_shape[2:]:  # kernel
        per_input *= size
    return math.prod(geometry["input_shape"]) * per_input
