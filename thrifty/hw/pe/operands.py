"""Turning user tensors into the PE's operands: bfloat16 bit patterns with the policies applied.

Shared by `run_pe` and `pe_matmul`, so both see exactly the same operands.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from numba import njit, prange

from thrifty.hw.pe.config import PEConfig
from thrifty.numerics.formats import to_bfloat16_bits
from thrifty.numerics.policy import PolicyCounts, apply_bfloat16_policies
from thrifty.numerics.terms import significand_tables


@njit(cache=True, parallel=True, nogil=True)
def _float32_operand(words, nearest):
    """float32 bit patterns (uint32, flat) -> bfloat16 operand patterns, subnormals, non-finite.

    One pass of `to_bfloat16_bits` then `apply_bfloat16_policies` with flushing and zeroing:
    round to nearest-even (or truncate), then zeros, subnormals and NaN/Inf become +0.
    """
    out = np.empty(words.size, np.uint16)
    n_sub = 0
    n_bad = 0
    for i in prange(words.size):
        u = np.int64(words[i])  # int64 arithmetic: no unsigned/signed promotion to float
        v = ((u + 0x7FFF + ((u >> 16) & 1)) if nearest else u) >> 16
        exponent = v & 0x7F80
        if (u & 0x7FFFFFFF) > 0x7F800000 or exponent == 0x7F80:  # NaN stays NaN; Inf
            n_bad += 1
            out[i] = 0
        elif exponent == 0:
            n_sub += 1 if (v & 0x7F) != 0 else 0
            out[i] = 0
        else:
            out[i] = v
    return out, n_sub, n_bad


def operand_bits(
    x: torch.Tensor | np.ndarray, config: PEConfig, name: str
) -> tuple[np.ndarray, PolicyCounts]:
    """bfloat16 patterns (uint16) of float32/bfloat16 data, subnormal/NaN policies applied.

    float32 data with the flushing and zeroing policies takes one parallel pass (the simulator
    converts every lowered operand); anything else, or data that breaks an 'error' policy
    (whose message needs the full check), goes through the two numerics steps.
    """
    float32_tensor = isinstance(x, torch.Tensor) and x.dtype == torch.float32
    array = x.detach().cpu().numpy() if float32_tensor else x
    if isinstance(array, np.ndarray) and array.dtype == np.float32 and array.size:
        words = np.ascontiguousarray(array).reshape(-1).view(np.uint32)
        out, n_sub, n_bad = _float32_operand(words, config.rounding == "nearest")
        broken = (n_sub and config.subnormals == "error") or (n_bad and config.nonfinite == "error")
        if not broken:
            counts = PolicyCounts(subnormals_flushed=int(n_sub), nonfinite_zeroed=int(n_bad))
            return out.reshape(array.shape), counts
    bits = to_bfloat16_bits(x, config.rounding)
    return apply_bfloat16_policies(bits, config.subnormals, config.nonfinite, name=name)


@lru_cache(maxsize=8)
def _tables(encoding: str) -> tuple[np.ndarray, np.ndarray]:
    count_from, value_from = significand_tables(encoding)  # type: ignore[arg-type]
    count_from.setflags(write=False)
    value_from.setflags(write=False)
    return count_from, value_from


def kernel_arguments(config: PEConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(params, count_from, value_from) as the numba kernels take them."""
    params = np.array(
        [
            config.lanes,
            config.window_bits,
            config.headroom,
            config.accumulator_bits,
            config.min_cycles,
            config.window == "accumulator",
        ],
        dtype=np.int64,
    )
    count_from, value_from = _tables(config.encoding)
    return params, count_from, value_from
