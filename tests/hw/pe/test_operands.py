"""operand_bits' one-pass float32 conversion equals the two numerics steps it replaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from thrifty.errors import NumericsError
from thrifty.hw import PEConfig
from thrifty.hw.pe.operands import operand_bits
from thrifty.numerics.formats import to_bfloat16_bits
from thrifty.numerics.policy import PolicyCounts, apply_bfloat16_policies


def _words() -> np.ndarray:
    """Random float32 patterns plus rounding ties, subnormals, zeros, Inf, NaN, the extremes."""
    rng = np.random.default_rng(0)
    w = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)
    w[:1000] = (w[:1000] & 0xFFFF0000) | 0x8000  # exact ties: even and odd kept halves
    w[1000:2000] &= 0x807FFFFF  # subnormals and zeros of both signs
    special = [0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F7FFFFF, 0xFF7FFFFF,
               0x7F7F8000, 0x00800000, 0x007FFFFF, 0x007F8000, 0x3F808000, 0x3F818000]  # fmt: skip
    w[2000 : 2000 + len(special)] = special
    return w


@pytest.mark.parametrize("rounding", ["nearest", "truncate"])
def test_one_pass_equals_convert_then_policies(rounding: str) -> None:
    x = _words().view(np.float32).reshape(400, 500)
    config = PEConfig(rounding=rounding, nonfinite="zero")
    got, counts = operand_bits(x, config, "a")
    want, want_counts = apply_bfloat16_policies(to_bfloat16_bits(x, rounding), "flush", "zero")
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.uint16 and got.shape == (400, 500)
    assert counts == want_counts and counts.subnormals_flushed > 0 and counts.nonfinite_zeroed > 0
    tensor_bits, tensor_counts = operand_bits(torch.from_numpy(x), config, "a")
    np.testing.assert_array_equal(tensor_bits, want)
    assert tensor_counts == want_counts


def test_error_policies_keep_their_messages() -> None:
    x = np.array([1.0, np.inf, 2.0], np.float32)
    with pytest.raises(NumericsError, match=r"b holds 1 NaN/Inf .*first at index \(1,\)"):
        operand_bits(x, PEConfig(), "b")
    tiny = np.array([1e-40, 1.0], np.float32)
    with pytest.raises(NumericsError, match=r"a holds 1 subnormal"):
        operand_bits(tiny, PEConfig(subnormals="error"), "a")
    assert operand_bits(tiny, PEConfig(), "a")[1] == PolicyCounts(subnormals_flushed=1)
