"""The integer quantizer at its range edges, worked by hand, on the three paths that compute it.

Paths: `int_quantize` (the reference formula), the torch path and the numba kernels of
`fractional_quantize` (integer bits and fractional bits with α = 0 must give the same values).
Expected values are small exact binary fractions worked out in the comments.
"""

from __future__ import annotations

import pytest
import torch

from thrifty.quant import functional as F


def _paths(x: torch.Tensor, bits: float, lo, hi, kind: str = "int", clamp: bool = False):
    """Q(x, bits) through the reference formula, the numba kernels and the torch path."""
    lo_t, hi_t = torch.tensor(lo), torch.tensor(hi)
    b = torch.tensor(float(bits))
    out = {"reference": F.int_quantize(x, b, lo_t, hi_t, kind == "int_symmetric", clamp)}
    previous = F.use_kernels()
    try:
        for name, enabled in (("numba", True), ("torch", False)):
            F.use_kernels(enabled)
            out[name] = F.fractional_quantize(x, b, lo_t, hi_t, kind, clamp)
            learnable = b.clone().requires_grad_(True)  # the fused two-level path, α = 0
            out[name + " fused"] = F.fractional_quantize(x, learnable, lo_t, hi_t, kind, clamp)
    finally:
        F.use_kernels(previous)
    return out


def _check(x, bits, lo, hi, expected, kind="int", clamp=False) -> None:
    want = torch.tensor(expected, dtype=torch.float32)
    for path, got in _paths(torch.tensor(x), bits, lo, hi, kind, clamp).items():
        torch.testing.assert_close(got.detach(), want, atol=0, rtol=0, msg=path)


def test_values_exactly_at_lo_and_hi_are_levels() -> None:
    # [lo, hi] = [-1, 2], 2 bits: step (2 - -1) / 3 = 1; levels -1, 0, 1, 2. lo and hi map to
    # themselves (codes 0 and 3), values in between to the nearest level.
    _check([-1.0, 2.0, 0.25, 1.75], 2, -1.0, 2.0, [-1.0, 2.0, 0.0, 2.0])


def test_ties_at_half_a_step_round_to_the_even_code() -> None:
    # [0, 3], 2 bits: step 1, codes = round(x). 0.5 -> 0, 1.5 -> 2, 2.5 -> 2 (ties to even);
    # just off the tie, 0.5 + 2**-20 -> 1 and 2.5 - 2**-20 -> 2.
    _check(
        [0.5, 1.5, 2.5, 0.5 + 2.0**-20, 1.5 - 2.0**-20],
        2,
        0.0,
        3.0,
        [0.0, 2.0, 2.0, 1.0, 1.0],
    )
    # With lo = -2 (range [-2, 1]): x - lo moves the ties: -1.5 -> code round(0.5) = 0 -> -2,
    # -0.5 -> round(1.5) = 2 -> 0, 0.5 -> round(2.5) = 2 -> 0.
    _check([-1.5, -0.5, 0.5], 2, -2.0, 1.0, [-2.0, 0.0, 0.0])


def test_symmetric_ties_and_edges() -> None:
    # int_symmetric, [lo, hi] = [-1, 3], 3 bits: scale max(|-1|, 3) = 3, levels 2**2 - 1 = 3,
    # step 1: codes = round(x). -0.5 -> -0 (ties to even), 0.5 -> 0, -1.5 -> -2, 2.5 -> 2,
    # 3 (= hi) -> 3 and -1 (= lo) -> -1.
    _check(
        [-0.5, 0.5, -1.5, 2.5, 3.0, -1.0],
        3,
        -1.0,
        3.0,
        [-0.0, 0.0, -2.0, 2.0, 3.0, -1.0],
        kind="int_symmetric",
    )


def test_clamp_keeps_values_outside_the_range_on_the_edge_levels() -> None:
    # [0, 3], 2 bits, clamp: 3.6 -> code round(3.6) = 4 clipped to 3 -> 3; -0.7 -> -1 -> 0.
    # Without clamp the codes run past the range: 4 and -1.
    _check([3.6, -0.7, 3.0], 2, 0.0, 3.0, [3.0, 0.0, 3.0], clamp=True)
    _check([3.6, -0.7, 3.0], 2, 0.0, 3.0, [4.0, -1.0, 3.0], clamp=False)
    # symmetric, [-3, 3] at 3 bits (step 1): 4.2 -> 3, -3.9 -> -3 with clamp
    _check([4.2, -3.9], 3, -3.0, 3.0, [3.0, -3.0], kind="int_symmetric", clamp=True)


@pytest.mark.parametrize(("kind", "bits"), [("int", 1), ("int", 8), ("int_symmetric", 2)])
def test_a_constant_tensor_quantizes_to_itself(kind: str, bits: int) -> None:
    # A constant tensor's range is [c, c]: width 0. Asymmetric: every value is lo = c (code 0).
    # Symmetric (at least 2 bits): scale |c|, c = -scale is code -levels, exactly c again.
    c = -0.8125
    _check([c] * 5, bits, c, c, [c] * 5, kind=kind)


def test_a_zero_width_range_maps_its_own_values_to_lo() -> None:
    # A range of width 0 taken from the values themselves: every value is lo, code 0, whatever
    # the bits (the formula substitutes a unit step for the zero one, never dividing by 0).
    for bits in (1, 2, 8):
        _check([0.75] * 3, bits, 0.75, 0.75, [0.75] * 3)
        _check([0.75] * 3, bits, 0.75, 0.75, [0.75] * 3, clamp=True)


def test_an_all_zero_tensor_stays_zero() -> None:
    _check([0.0, 0.0, 0.0], 3, 0.0, 0.0, [0.0, 0.0, 0.0])
    _check([0.0, 0.0, 0.0], 3, 0.0, 0.0, [0.0, 0.0, 0.0], kind="int_symmetric")


def test_a_range_too_narrow_for_its_levels_maps_its_values_to_lo() -> None:
    # A range 2 subnormals wide: width / (2^8 − 1) underflows to 0, which would divide by zero
    # (NaN on the torch path, an error in the kernels). The step becomes 1, as for width 0:
    # every value is lo (code 0), or 0 when symmetric (|x| / 1 rounds to code 0).
    tiny = 1.401298464324817e-45  # the smallest float32 subnormal
    values = [-tiny, 0.0, tiny]
    _check(values, 8, -tiny, tiny, [-tiny] * 3)
    _check(values, 8, -tiny, tiny, [-tiny] * 3, clamp=True)
    _check(values, 8, -tiny, tiny, [0.0] * 3, kind="int_symmetric")
    # one bit of width more than a subnormal step per level is representable again
    assert F.level_step(torch.tensor(255 * tiny), torch.tensor(255.0)).item() == tiny
