"""TEMPORARY stand-in for the term-serial PE of issue 3 (branch `pe`), used only until it lands.

It follows the `pe_matmul` contract (shapes, dtypes, field names) with a simplified model:
bfloat16 operands, NAF terms of the serial operand, no out-of-bounds skipping, exact products
added step by step into a float32 accumulator. Deleted when `thrifty.hw.pe_matmul` exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from thrifty._config import FrozenConfig


class PEConfig(FrozenConfig):
    """Stand-in PE settings (names as in issue 3)."""

    lanes: int = Field(8, ge=1, description="Lanes: reduction values per step (values).")
    accumulator_bits: int = Field(24, description="Accumulator significand width (bits).")
    guard_bits: int = Field(3, description="Guard bits below the accumulator (bits).")
    encoding: Literal["naf", "binary", "booth4"] = Field("naf", description="Term encoding.")
    min_cycles: int = Field(1, ge=0, description="Least cycles per step (cycles).")


@dataclass(frozen=True)
class MatmulResult:
    value: np.ndarray
    baseline_value: np.ndarray
    step_cycles: np.ndarray
    cycles: np.ndarray
    terms_total: np.ndarray
    terms_out_of_bounds: np.ndarray
    terms_processed: np.ndarray
    idle_lane_steps: np.ndarray


def _naf_terms(x: np.ndarray) -> np.ndarray:
    bits = torch.as_tensor(np.ascontiguousarray(x, np.float32)).to(torch.bfloat16)
    bits = bits.view(torch.int16).numpy().astype(np.int32) & 0x7FFF
    sig = np.where(bits >> 7 == 0, 0, 128 + (bits & 0x7F))
    weight = np.zeros_like(sig)
    v = (3 * sig) ^ sig  # the NAF weight of x is popcount(3x XOR x)
    for _ in range(11):
        weight += v & 1
        v >>= 1
    return weight


def pe_matmul(a: np.ndarray, b: np.ndarray, config: PEConfig) -> MatmulResult:
    a16 = torch.as_tensor(np.asarray(a, np.float32)).to(torch.bfloat16).float().numpy()
    b16 = torch.as_tensor(np.asarray(b, np.float32)).to(torch.bfloat16).float().numpy()
    m, k = a16.shape
    n = b16.shape[1]
    lanes = config.lanes
    steps = -(-k // lanes)
    terms = _naf_terms(a16)
    step_cycles = np.zeros((m, n, steps), np.uint8)
    value = np.zeros((m, n), np.float32)
    total = np.zeros((m, n), np.int64)
    idle = np.zeros((m, n), np.int64)
    for s in range(steps):
        sl = slice(s * lanes, min(k, (s + 1) * lanes))
        active = (a16[:, sl, None] != 0) & (b16[None, sl, :] != 0)
        t = terms[:, sl, None] * active
        step_cycles[:, :, s] = np.maximum(t.max(axis=1), config.min_cycles)
        total += t.sum(axis=1)
        idle += lanes - active.sum(axis=1)
        prod = (a16[:, sl, None].astype(np.float64) * b16[None, sl, :]).sum(axis=1)
        value = (value.astype(np.float64) + prod).astype(np.float32)
    return MatmulResult(
        value, value.copy(), step_cycles, step_cycles.sum(axis=2, dtype=np.int64), total,
        np.zeros_like(total), total.copy(), idle,
    )  # fmt: skip
