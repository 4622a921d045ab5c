"""What the PE's arithmetic costs in accuracy on a trace's real reductions, against float64.

For each traced operation, a seeded sample of output rows of its lowered product (the serial
operand as `dataflow` says; `oracle` takes the left factor) is reduced by the PE model
(`pe_matmul`): the term-serial value and the exact-product dot product's value (the oracle's
baseline: exact products added into the same float32 accumulator, one rounding per step; the
synthesized dot-product PE instead truncates its step sum to the window as the term-serial PE
does, so this is the best a dot-product PE can do). The per-lane FMA baseline's value is
emulated here (our reconstruction of a conventional unit): lane l of `lanes` takes reduction
elements l, l + lanes, …; each MAC adds the exact bfloat16 product into the lane's float32 sum
with one rounding (round-to-nearest-even), and the lane sums are added at the end in a pairwise
float32 tree. All three are compared with a float64 dot product of the same bfloat16 operands,
so the inputs' rounding to bfloat16 is not counted — only accumulation and the term-serial PE's
out-of-bounds skipping, which depends on the window (`pe.window`).

The error of one output is normalised by the sum of the magnitudes of its products,
|x − ref| / Σ_k |a_k · b_k|: the error in units of the reduction's own scale, finite under
cancellation (a plain relative error is not). Outputs whose products are all zero are exact on
every path and count as zero error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from thrifty.hw.config import HardwareConfig
from thrifty.hw.pe.matmul import pe_matmul
from thrifty.hw.pe.operands import operand_bits
from thrifty.hw.sim.dataflow import OPERANDS, as_tensor, geometry_from_dict, lower
from thrifty.numerics.formats import bfloat16_bits_to_float32


@dataclass(frozen=True)
class NumericCost:
    """Normalised errors against float64 over the sampled outputs of a trace (additive sums).

    `*_sum` are sums over outputs (mean = sum / outputs); `*_max` maxima; `term_differs` counts
    outputs where the term-serial value differs from the exact-product dot product's.
    `baseline_*` is the exact-product dot product, `fma_*` the per-lane FMA baseline.
    """

    outputs: int
    term_error_sum: float
    term_error_max: float
    baseline_error_sum: float
    baseline_error_max: float
    term_differs: int
    fma_error_sum: float = 0.0
    fma_error_max: float = 0.0

    def __add__(self, other: NumericCost) -> NumericCost:
        return NumericCost(
            self.outputs + other.outputs,
            self.term_error_sum + other.term_error_sum,
            max(self.term_error_max, other.term_error_max),
            self.baseline_error_sum + other.baseline_error_sum,
            max(self.baseline_error_max, other.baseline_error_max),
            self.term_differs + other.term_differs,
            self.fma_error_sum + other.fma_error_sum,
            max(self.fma_error_max, other.fma_error_max),
        )

    @property
    def term_error_mean(self) -> float:
        """Mean normalised error of the term-serial PE."""
        return self.term_error_sum / self.outputs if self.outputs else 0.0

    @property
    def baseline_error_mean(self) -> float:
        """Mean normalised error of the exact-product dot product."""
        return self.baseline_error_sum / self.outputs if self.outputs else 0.0

    @property
    def fma_error_mean(self) -> float:
        """Mean normalised error of the per-lane FMA baseline."""
        return self.fma_error_sum / self.outputs if self.outputs else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the means."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["term_error_mean"] = self.term_error_mean
        data["baseline_error_mean"] = self.baseline_error_mean
        data["fma_error_mean"] = self.fma_error_mean
        return data


_EMPTY = NumericCost(0, 0.0, 0.0, 0.0, 0.0, 0)


def per_lane_fma_values(a: np.ndarray, b: np.ndarray, lanes: int) -> np.ndarray:
    """(M, N) float32 results of per-lane FMA PEs on float64-held bfloat16 A (M, K), B (K, N)."""
    m, k = a.shape
    n = b.shape[1]
    sums = np.zeros((lanes, m, n), np.float32)
    for start in range(0, k, lanes):
        for lane in range(min(lanes, k - start)):
            col = start + lane
            # bf16 × bf16 has a 16-bit significand: exact in float32; the add rounds once.
            product = (a[:, col : col + 1] * b[col : col + 1, :]).astype(np.float32)
            sums[lane] = sums[lane] + product
    while sums.shape[0] > 1:  # pairwise float32 tree over the lane sums
        if sums.shape[0] % 2:
            sums = np.concatenate([sums, np.zeros((1, m, n), np.float32)])
        sums = sums[0::2] + sums[1::2]
    return sums[0]


def product_cost(a: np.ndarray, b: np.ndarray, config: HardwareConfig) -> NumericCost:
    """Numeric cost of the PE on A (M, K) · B (K, N), every output."""
    result = pe_matmul(a, b, config.pe)
    a_bits, _ = operand_bits(np.ascontiguousarray(a), config.pe, "a")
    b_bits, _ = operand_bits(np.ascontiguousarray(b), config.pe, "b")
    a64 = bfloat16_bits_to_float32(a_bits).astype(np.float64)
    b64 = bfloat16_bits_to_float32(b_bits).astype(np.float64)
    ref = a64 @ b64
    scale = np.abs(a64) @ np.abs(b64)
    safe = np.where(scale > 0, scale, 1.0)
    term = np.abs(np.asarray(result.value, np.float64) - ref) / safe
    base = np.abs(np.asarray(result.baseline_value, np.float64) - ref) / safe
    fma = np.abs(per_lane_fma_values(a64, b64, config.pe.lanes).astype(np.float64) - ref) / safe
    differs = np.asarray(result.value) != np.asarray(result.baseline_value)
    return NumericCost(
        outputs=int(ref.size),
        term_error_sum=float(term.sum()),
        term_error_max=float(term.max(initial=0.0)),
        baseline_error_sum=float(base.sum()),
        baseline_error_max=float(base.max(initial=0.0)),
        term_differs=int(np.count_nonzero(differs)),
        fma_error_sum=float(fma.sum()),
        fma_error_max=float(fma.max(initial=0.0)),
    )


def numeric_cost(
    entries: Iterable[Any], config: HardwareConfig, *, rows: int = 64, seed: int = 0
) -> NumericCost:
    """Numeric cost over trace entries (objects or mappings with op, geometry, tensors).

    Of each entry's lowered product, `rows` output rows per group are drawn (seeded by `seed`
    and the entry's index) and reduced against every column.
    """
    total = _EMPTY
    for index, entry in enumerate(entries):
        get = entry.get if isinstance(entry, Mapping) else lambda k, e=entry: getattr(e, k)
        op = get("op")
        tensors = {n: as_tensor(get("tensors")[n]).float().numpy() for n in OPERANDS[op]}
        product = lower(op, geometry_from_dict(get("geometry")), tensors)
        serial = getattr(config.dataflow, op)
        rng = np.random.default_rng([seed, index])
        for left, right in zip(product.left, product.right, strict=True):
            a, b = (left, right) if serial in ("oracle", product.left_name) else (right.T, left.T)
            take = np.sort(rng.choice(a.shape[0], size=min(rows, a.shape[0]), replace=False))
            total = total + product_cost(
                np.ascontiguousarray(a[take]), np.ascontiguousarray(b), config
            )
    return total


__all__ = ["NumericCost", "numeric_cost", "per_lane_fma_values", "product_cost"]
