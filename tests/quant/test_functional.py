"""Quantizer math (docs/design.md §3): exact integer levels, interpolation, the bitlength gradient,
the straight-through estimator, and the float-mantissa quantizer against a bfloat16 cast."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from thrifty.quant import functional as F

KINDS = ["int", "int_symmetric"]


def _ranges(x: torch.Tensor, keep: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    dims = tuple(d for d, size in enumerate(keep) if size == 1)
    return x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)


KEEPS = [(1, 1, 1, 1), (1, 5, 1, 1), (6, 1, 1, 1), (6, 5, 1, 1)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("keep", KEEPS)
@pytest.mark.parametrize("clamp", [False, True])
def test_integer_bits_equal_the_integer_quantizer_bit_for_bit(kernels, kind, keep, clamp):
    x = torch.randn(6, 5, 4, 3) * 3
    lo, hi = _ranges(x, keep)
    if clamp:  # a narrower range than the data, as an EMA range can be
        lo, hi = lo * 0.7, hi * 0.7
    for bits in range(2, 9):
        n = torch.full(keep, float(bits), requires_grad=True)
        expected = F.int_quantize(x, n.detach(), lo, hi, kind == "int_symmetric", clamp)
        got = F.fractional_quantize(x, n, lo, hi, kind, clamp)
        assert torch.equal(got.view(torch.int32), expected.view(torch.int32)) or (
            kind == "int_symmetric" and torch.equal(got, expected)  # ±0 may differ in sign
        )
        frozen = F.fractional_quantize(x, n.detach(), lo, hi, kind, clamp)
        assert torch.equal(frozen, expected)


def test_integer_quantizer_hits_exactly_two_to_the_b_levels() -> None:
    x = torch.linspace(-1, 3, 1001)
    q = F.int_quantize(x, torch.tensor(3.0), x.min(), x.max())
    assert q.unique().numel() == 8
    assert q.min() == -1 and q.max() == 3
    assert (q - x).abs().max() <= (4 / 7) / 2 + 1e-6


@pytest.mark.parametrize("kind", KINDS)
def test_fractional_bits_interpolate_between_b_and_b_plus_one(kernels, kind):
    x = torch.randn(4, 3, 5)
    lo, hi = x.min(), x.max()
    n = torch.tensor(4.25)
    got = F.fractional_quantize(x, n, lo, hi, kind)
    q4 = F.int_quantize(x, torch.tensor(4.0), lo, hi, kind == "int_symmetric")
    q5 = F.int_quantize(x, torch.tensor(5.0), lo, hi, kind == "int_symmetric")
    torch.testing.assert_close(got, 0.75 * q4 + 0.25 * q5, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("keep", KEEPS)
def test_bit_gradient_is_the_level_difference_summed_per_bitlength(kernels, kind, keep):
    x = torch.randn(6, 5, 4, 3).requires_grad_()
    lo, hi = _ranges(x.detach(), keep)
    n = (torch.rand(keep) * 5 + 2).requires_grad_()
    grad_out = torch.randn(6, 5, 4, 3)
    out = F.fractional_quantize(x, n, lo, hi, kind)
    grad_x, grad_n = torch.autograd.grad(out, (x, n), grad_out)
    b = torch.floor(n.detach())
    symmetric = kind == "int_symmetric"
    level_gap = F.int_quantize(x.detach(), b + 1, lo, hi, symmetric) - F.int_quantize(
        x.detach(), b, lo, hi, symmetric
    )
    torch.testing.assert_close(grad_n, (grad_out * level_gap).sum_to_size(keep))
    assert torch.equal(grad_x, grad_out)  # straight-through estimator


@pytest.mark.parametrize("bits", [2.0, 3.3, 5.0, 7.9])
def test_autograd_gradcheck_of_the_bitlength(bits: float) -> None:
    F.use_kernels(False)
    try:
        x = torch.randn(3, 7, dtype=torch.float64)
        lo, hi = x.min(), x.max()
        n = torch.tensor(bits + 0.01, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(
            lambda m: F.fractional_quantize(x, m, lo, hi, "int"), (n,), eps=1e-6, atol=1e-5
        )
    finally:
        F.use_kernels(True)


def test_constant_tensor_quantizes_to_itself() -> None:
    x = torch.full((4, 4), 2.5)
    n = torch.tensor(3.5, requires_grad=True)
    out = F.fractional_quantize(x, n, x.min(), x.max(), "int")
    assert torch.equal(out, x)


# ---- float-mantissa quantizer ------------------------------------------------------------


def _bf16_reference(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.bfloat16).to(torch.float32)


def _structured_float32_patterns() -> torch.Tensor:
    """Every sign/exponent/top-7-fraction pattern (2^16) × the low halves that decide rounding."""
    high = torch.arange(1 << 16, dtype=torch.int64) << 16
    lows = torch.tensor([0, 1, 0x3FFF, 0x7FFF, 0x8000, 0x8001, 0xBFFF, 0xFFFF], dtype=torch.int64)
    patterns = (high[:, None] | lows[None, :]).reshape(-1)
    patterns = torch.where(patterns >= 1 << 31, patterns - (1 << 32), patterns).to(torch.int32)
    values = patterns.view(torch.float32)
    return values[torch.isfinite(values)]


def test_mantissa_at_seven_bits_is_a_bfloat16_cast_for_every_rounding_case() -> None:
    x = _structured_float32_patterns()
    got = F.mantissa_quantize(x, 7)
    assert torch.equal(got.view(torch.int32), _bf16_reference(x).view(torch.int32))


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
@example(0x7F7FFFFF)  # largest finite: rounds to +inf like the cast
@example(0x00008000)  # subnormal tie
@example(-0x7F808000 + 0)  # a negative tie
def test_mantissa_at_seven_bits_matches_bfloat16_on_random_patterns(pattern: int) -> None:
    x = torch.tensor([pattern], dtype=torch.int32).view(torch.float32)
    if not torch.isfinite(x).all():
        return
    got = F.mantissa_quantize(x, 7)
    assert torch.equal(got.view(torch.int32), _bf16_reference(x).view(torch.int32))


@given(
    st.floats(min_value=2.0**-100, max_value=2.0**100, width=32),
    st.integers(min_value=0, max_value=22),
    st.booleans(),
)
def test_mantissa_rounding_matches_a_float64_oracle(value: float, k: int, negative: bool) -> None:
    value = -value if negative else value
    mantissa, exponent = np.frexp(np.float64(value))  # value = mantissa · 2^exponent, |m|∈[½,1)
    expected = np.ldexp(np.rint(np.ldexp(mantissa, k + 1)), exponent - k - 1)
    got = F.mantissa_quantize(torch.tensor([value], dtype=torch.float32), k)
    assert got.item() == np.float32(expected)


def test_mantissa_fractional_bits_interpolate_and_have_the_level_gradient() -> None:
    x = torch.randn(50)
    n = torch.tensor(3.5, requires_grad=True)
    out = F.fractional_quantize(x, n, kind="float_mantissa")
    q3, q4 = F.mantissa_quantize(x, 3), F.mantissa_quantize(x, 4)
    torch.testing.assert_close(out, 0.5 * q3 + 0.5 * q4)
    (grad_n,) = torch.autograd.grad(out.sum(), n)
    torch.testing.assert_close(grad_n, (q4 - q3).sum())
