"""float32 -> bfloat16 conversion and field extraction, checked exhaustively where possible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from thrifty.errors import NumericsError
from thrifty.numerics import (
    bfloat16_bits_to_float32,
    bfloat16_bits_to_tensor,
    fields,
    float_bits,
    to_bfloat16_bits,
)


def _float32_patterns() -> np.ndarray:
    """Every upper half with the low halves that decide rounding, plus random patterns."""
    upper = np.arange(1 << 16, dtype=np.uint32) << 16
    lows = np.array([0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF], dtype=np.uint32)
    grid = (upper[:, None] | lows[None, :]).ravel()
    rng = np.random.default_rng(0)
    random = rng.integers(0, 1 << 32, size=200_000, dtype=np.uint64).astype(np.uint32)
    return np.concatenate([grid, random])


def test_nearest_matches_torch_bit_for_bit() -> None:
    x = _float32_patterns().view(np.float32)
    ours = to_bfloat16_bits(x, "nearest")
    theirs = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    np.testing.assert_array_equal(ours, theirs)


def test_truncate_drops_the_low_half_and_keeps_nan() -> None:
    x = _float32_patterns()
    ours = to_bfloat16_bits(x.view(np.float32), "truncate")
    expected = (x >> 16).astype(np.uint16)
    nan = (x & 0x7FFFFFFF) > 0x7F800000
    np.testing.assert_array_equal(ours[~nan], expected[~nan])
    assert (ours[nan] == 0xFFFF).all()


def test_bfloat16_tensor_passes_through_and_round_trips() -> None:
    bits = np.arange(1 << 16, dtype=np.uint16)
    tensor = bfloat16_bits_to_tensor(bits)
    np.testing.assert_array_equal(to_bfloat16_bits(tensor), bits)
    finite = (bits & 0x7F80) != 0x7F80
    np.testing.assert_array_equal(
        bfloat16_bits_to_float32(bits)[finite], tensor.float().numpy()[finite]
    )


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_fields_reconstruct_every_finite_pattern(dtype: torch.dtype) -> None:
    bits = np.arange(1 << 16, dtype=np.uint16)
    tensor = torch.from_numpy(bits.view(np.int16)).view(dtype)
    f = fields(tensor)
    fmt = f.format
    finite = ~f.is_nonfinite
    value = (
        np.where(f.sign == 1, -1.0, 1.0)
        * f.significand.astype(np.float64)
        * np.exp2(np.maximum(f.exponent, 1) - fmt.bias - fmt.fraction_bits)
    )
    np.testing.assert_array_equal(value[finite], tensor.double().numpy()[finite])
    assert int(f.is_subnormal.sum()) == 2 * ((1 << fmt.fraction_bits) - 1)
    assert int(f.is_zero.sum()) == 2


def test_fields_of_float32() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 1 << 32, size=50_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    f = fields(x)
    finite = ~f.is_nonfinite
    value = (
        np.where(f.sign == 1, -1.0, 1.0)
        * f.significand.astype(np.float64)
        * np.exp2(np.maximum(f.exponent, 1) - 127 - 23)
    )
    np.testing.assert_array_equal(value[finite], x[finite].astype(np.float64))


def test_unsupported_dtypes_are_named() -> None:
    with pytest.raises(NumericsError, match="torch.float64"):
        float_bits(torch.zeros(2, dtype=torch.float64))
    with pytest.raises(NumericsError, match="float64"):
        float_bits(np.zeros(2))
    with pytest.raises(NumericsError, match="float16"):
        to_bfloat16_bits(np.zeros(2, dtype=np.float16))
    with pytest.raises(NumericsError, match="'nearest' or 'truncate'"):
        to_bfloat16_bits(np.zeros(2, dtype=np.float32), "up")  # type: ignore[arg-type]
