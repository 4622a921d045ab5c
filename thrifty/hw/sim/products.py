"""Products of two activations (trace geometry kind "matmul") lowered to matrix products.

C = A·B with A (*batch, M, K) and B (*batch, K, N), or B (K, N) shared by every batch index.
The trace stores A as `activation` and B as `weight`, so the three operations keep the names of
a layer's (docs/traces.md):

- forward:          C = A·B. Per batch index: L = A[g] (M, K), R = B[g] (K, N).
- backward_data:    dA = dC·Bᵀ. L = dC[g] (M, N), R = B[g]ᵀ (N, K).
- backward_weight:  dB = Aᵀ·dC, computed as its transpose dBᵀ = dCᵀ·A so that the gradient is
                    the left factor as in a layer's backward_weight: L = dC[g]ᵀ (N, M),
                    R = A[g] (M, K); the result is transposed back.

Batch indices (batch × heads in attention) are independent products, one group each. A shared
2-D B makes it one product over the flattened rows (batch × M), as a Linear layer is: its
dB then reduces over batch × M.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from thrifty.errors import SimulationError


@dataclass(frozen=True)
class ProductGeometry:
    """A traced product's shapes: `groups` independent (rows, K) · (K, N) products."""

    kind: str  # always "matmul"
    role: str  # attention_qk, attention_av or matmul
    groups: int
    rows: int  # M, or batch × M when B is shared
    k: int
    n: int
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    output_shape: tuple[int, ...]


def product_geometry(geometry: Mapping[str, Any]) -> ProductGeometry:
    """Normalise a "matmul" trace geometry; raises SimulationError if its shapes disagree."""
    a = tuple(int(v) for v in geometry["input_shape"])
    b = tuple(int(v) for v in geometry["weight_shape"])
    out = tuple(int(v) for v in geometry["output_shape"])
    if len(a) < 2 or len(b) < 2 or a[-1] != b[-2] or (len(b) > 2 and a[:-2] != b[:-2]):
        raise SimulationError(
            f"matmul shapes {list(a)} · {list(b)} cannot be simulated: A must be (*batch, M, K) "
            "and B (K, N) or (*batch, K, N) with A's batch dimensions"
        )
    if out != (*a[:-1], b[-1]):
        raise SimulationError(
            f"matmul output_shape {list(out)} is not {[*a[:-1], b[-1]]} for A {list(a)} and "
            f"B {list(b)}: the geometry is damaged"
        )
    batch = math.prod(a[:-2])
    shared = len(b) == 2
    groups, rows = (1, batch * a[-2]) if shared else (batch, a[-2])
    role = str(geometry.get("role", "matmul"))
    return ProductGeometry("matmul", role, groups, rows, a[-1], b[-1], a, b, out)


def product_shape_of(geometry: ProductGeometry, op: str) -> tuple[int, int, int, int]:
    """(groups, M, K, N) of one lowered operation."""
    g = geometry
    if op == "forward":
        return g.groups, g.rows, g.k, g.n
    if op == "backward_data":
        return g.groups, g.rows, g.n, g.k
    return g.groups, g.n, g.rows, g.k


def lower_product(
    op: str, geometry: ProductGeometry, tensors: Mapping[str, torch.Tensor]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(left factors, right factors), one per group (see the module docstring)."""
    g = geometry

    def rows_of(x: torch.Tensor, cols: int) -> torch.Tensor:  # (groups, rows, cols)
        return x.reshape(g.groups, g.rows, cols)

    def b_of(x: torch.Tensor) -> torch.Tensor:  # (groups, K, N)
        return x.reshape(g.groups, g.k, g.n)

    if op == "forward":
        a, b = rows_of(tensors["activation"], g.k), b_of(tensors["weight"])
        return list(a.unbind(0)), list(b.unbind(0))
    if op == "backward_data":
        grad, b = rows_of(tensors["grad_output"], g.n), b_of(tensors["weight"])
        return list(grad.unbind(0)), [x.T for x in b.unbind(0)]
    grad, a = rows_of(tensors["grad_output"], g.n), rows_of(tensors["activation"], g.k)
    return [x.T for x in grad.unbind(0)], list(a.unbind(0))


def assemble_product(
    op: str, geometry: ProductGeometry, outputs: Sequence[np.ndarray]
) -> np.ndarray:
    """The per-group results in the operand's layout: C, dA (A's shape) or dB (B's shape)."""
    g = geometry
    stacked = np.stack([np.asarray(o) for o in outputs])
    if op == "forward":
        return stacked.reshape(g.output_shape)
    if op == "backward_data":
        return stacked.reshape(g.input_shape)
    return np.ascontiguousarray(stacked.transpose(0, 2, 1)).reshape(g.weight_shape)


__all__ = [
    "ProductGeometry",
    "assemble_product",
    "lower_product",
    "product_geometry",
    "product_shape_of",
]
