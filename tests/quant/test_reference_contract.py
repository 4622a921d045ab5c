"""The quantizer's reference functions at the edges their other tests leave open.

Written while triaging the mutation run of `thrifty/quant/functional.py` (docs/testing.md):
ranges narrower than one unit, the default of `clamp`, the interpolated level with clamping on the
PyTorch path, `mantissa_quantize` at and next to the full float32 fraction, a Python int `k`,
integer mantissa bits through `fractional_quantize`, and the straight-through gradient of `x`
when the bitlength takes none. Expected values are worked by hand in the comments.
"""

from __future__ import annotations

import pytest
import torch

from thrifty.quant import functional as F


def _f32(bits: list[int]) -> torch.Tensor:
    return torch.tensor(bits, dtype=torch.int32).view(torch.float32)


@pytest.fixture
def torch_path():
    """Run the test with the numba kernels off (the PyTorch path), restoring the switch."""
    previous = F.use_kernels()
    F.use_kernels(False)
    yield
    F.use_kernels(previous)


def test_a_range_narrower_than_one_has_steps_narrower_than_one() -> None:
    # [0, 0.75] at 2 bits: step 0.75 / 3 = 0.25; 0.3 -> code 1 -> 0.25, 0.7 -> 3 -> 0.75.
    x, b = torch.tensor([0.3, 0.7, 0.1]), torch.tensor(2.0)
    lo, hi = torch.tensor(0.0), torch.tensor(0.75)
    want = torch.tensor([0.25, 0.75, 0.0])
    assert torch.equal(F.int_quantize(x, b, lo, hi), want)
    previous = F.use_kernels()
    try:
        for enabled in (True, False):
            F.use_kernels(enabled)
            assert torch.equal(F.fractional_quantize(x, b, lo, hi), want), enabled
    finally:
        F.use_kernels(previous)


def test_int_quantize_does_not_clamp_unless_asked() -> None:
    # [0, 3] at 2 bits, step 1: 3.6 -> code 4 -> 4.0 and -0.7 -> code -1 -> -1.0 (past the range).
    x, b = torch.tensor([3.6, -0.7]), torch.tensor(2.0)
    lo, hi = torch.tensor(0.0), torch.tensor(3.0)
    assert torch.equal(F.int_quantize(x, b, lo, hi), torch.tensor([4.0, -1.0]))
    assert torch.equal(F.fractional_quantize(x, b, lo, hi), torch.tensor([4.0, -1.0]))


def test_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown quantizer kind 'uint'; use one of \['int'"):
        F.fractional_quantize(torch.ones(2), torch.tensor(3.0), kind="uint")


def test_an_integer_bitlength_that_learns_gets_the_level_gap_as_gradient() -> None:
    # [0, 3], x = 1.2 at n = 3 (requires grad): dn = g · (Q(x, 4) − Q(x, 3)), each level from the
    # reference formula: Q(1.2, 4) = 6 · 0.2 = 1.2, Q(1.2, 3) = 3 · 3/7 = 1.2857.
    x, lo, hi = torch.tensor([1.2]), torch.tensor(0.0), torch.tensor(3.0)
    level = {b: F.int_quantize(x, torch.tensor(b), lo, hi) for b in (3.0, 4.0)}
    gap = level[4.0] - level[3.0]
    assert gap.item() == pytest.approx(1.2 - 9 / 7, abs=1e-6)
    n = torch.tensor(3.0, requires_grad=True)
    F.fractional_quantize(x, n, lo, hi).backward(torch.tensor([2.0]))
    assert n.grad is not None and torch.equal(n.grad, 2.0 * gap.sum())


def test_the_upper_level_is_clamped_too_on_the_torch_path(torch_path) -> None:
    # [0, 3], n = 2.5, clamp: Q(3.6, 2) = min(round(3.6), 3) · 1 = 3; Q(3.6, 3): step 3/7,
    # 3.6 / (3/7) = 8.4 -> 8 -> clamped to 7 -> 3.0 (unclamped: 8 · 3/7 = 3.43).
    # Interpolated: 0.5 · 3 + 0.5 · 3 = 3.
    n = torch.tensor(2.5, requires_grad=True)
    out = F.fractional_quantize(torch.tensor([3.6]), n, torch.tensor(0.0), torch.tensor(3.0),
                                "int", clamp=True)  # fmt: skip
    assert out.item() == 3.0


def test_mantissa_quantize_keeps_every_bit_at_23_and_rounds_one_bit_at_22() -> None:
    # Patterns: 1.0 + 2^-23 (odd fraction), 1.0 + 2^-22 (even), 1.0 + 3·2^-23 (odd).
    x = _f32([0x3F800001, 0x3F800002, 0x3F800003])
    assert torch.equal(F.mantissa_quantize(x, 23).view(torch.int32), x.view(torch.int32))
    assert torch.equal(F.mantissa_quantize(x, 30).view(torch.int32), x.view(torch.int32))
    # 22 fraction bits drop the last bit, ties to even: ...01 -> ...00, ...10 stays,
    # ...11 -> ...100.
    want = torch.tensor([0x3F800000, 0x3F800002, 0x3F800004], dtype=torch.int32)
    assert torch.equal(F.mantissa_quantize(x, 22).view(torch.int32), want)


def test_mantissa_quantize_takes_a_python_int_like_a_tensor() -> None:
    x = torch.randn(257, generator=torch.Generator().manual_seed(0))
    want = x.to(torch.bfloat16).to(torch.float32)
    assert torch.equal(F.mantissa_quantize(x, 7), want)
    assert torch.equal(F.mantissa_quantize(x, torch.tensor(7, dtype=torch.int32)), want)
    per_value = torch.full(x.shape, 7, dtype=torch.int64)  # any integer dtype, one k per value
    assert torch.equal(F.mantissa_quantize(x, per_value), want)


def test_mantissa_quantize_refuses_other_dtypes_by_name() -> None:
    message = "mantissa_quantize needs float32 values, got torch.float64"
    with pytest.raises(TypeError, match=message):
        F.mantissa_quantize(torch.ones(2, dtype=torch.float64), 7)


def test_integer_mantissa_bits_through_fractional_quantize_are_the_bfloat16_cast() -> None:
    x = torch.randn(300, generator=torch.Generator().manual_seed(1))
    out = F.fractional_quantize(x, torch.tensor(7.0), kind="float_mantissa")
    assert torch.equal(out, x.to(torch.bfloat16).to(torch.float32))


@pytest.mark.parametrize("kernels", [True, False])
def test_x_gets_the_straight_through_gradient_when_the_bits_take_none(kernels: bool) -> None:
    previous = F.use_kernels()
    F.use_kernels(kernels)
    try:
        lo, hi = torch.tensor(-1.0), torch.tensor(1.0)
        grad = torch.tensor([0.5, -2.0, 3.0])
        for n in (torch.tensor(3.0), torch.tensor(2.5)):  # one level, then two interpolated
            x = torch.tensor([0.3, -0.6, 0.9], requires_grad=True)
            F.fractional_quantize(x, n, lo, hi).backward(grad)
            assert torch.equal(x.grad, grad), n
    finally:
        F.use_kernels(previous)
