"""Turning user tensors into the PE's operands: bfloat16 bit patterns with the policies applied.

Shared by `run_pe` and `pe_matmul`, so both see exactly the same operands.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from thrifty.hw.pe.config import PEConfig
from thrifty.numerics.formats import to_bfloat16_bits
from thrifty.numerics.policy import PolicyCounts, apply_bfloat16_policies
from thrifty.numerics.terms import significand_tables


def operand_bits(
    x: torch.Tensor | np.ndarray, config: PEConfig, name: str
) -> tuple[np.ndarray, PolicyCounts]:
    """bfloat16 patterns (uint16) of float32/bfloat16 data, subnormal/NaN policies applied."""
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
