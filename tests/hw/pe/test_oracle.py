"""The scalar oracle on hand-worked cases, and its rounding against numpy's float32 rounding."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from thrifty.hw import PEConfig
from thrifty.hw.pe.oracle import round_accumulator, run_oracle, top_bit
from thrifty.numerics import to_bfloat16_bits


def bits(values: list[float]) -> list[int]:
    return [int(x) for x in to_bfloat16_bits(np.array(values, dtype=np.float32))]


def test_small_integers_are_exact() -> None:
    res = run_oracle(bits([1, 2, 3]), bits([4, 5, 6]), PEConfig())
    assert res.value == res.baseline_value == 32.0
    # NAF terms: 1 -> [1], 2 -> [2], 3 -> [4, -1]: the step takes 2 cycles
    assert res.step_cycles == [2]
    assert (res.terms_total, res.terms_processed, res.terms_out_of_bounds) == (4, 4, 0)
    assert res.idle_lane_steps == 5  # 8 lanes, 3 used
    assert res.baseline_cycles == 1


def test_a_tiny_product_beside_a_large_one_is_out_of_bounds() -> None:
    # 1.0 * 1.0: E = 1 (weight of product bit 15), T = 1 + headroom 4 = 5.
    # 2**-30 * 1.0: E = -29; its only term (position 7) lands at s = (5 + 29) + 1 = 35 >= 27.
    res = run_oracle(bits([1.0, 2.0**-30]), bits([1.0, 1.0]), PEConfig())
    assert (res.terms_total, res.terms_processed, res.terms_out_of_bounds) == (2, 1, 1)
    assert res.idle_lane_steps == 7  # 6 missing lanes + the lane whose terms all fell out
    assert res.value == 1.0
    assert res.baseline_value == 1.0  # 1 + 2**-30 rounds to 1 in float32 too
    # with a window 12 bits wider the term is in bounds (s = 35 < 39)
    wide = run_oracle(bits([1.0, 2.0**-30]), bits([1.0, 1.0]), PEConfig(guard_bits=8, headroom=0))
    assert wide.terms_out_of_bounds == 0


def test_the_accumulator_sets_the_alignment() -> None:
    # step 1 puts 2**20 in the accumulator; in step 2 the window top is 2**20 (above product
    # E + headroom = 1 + 4), so 1.0's partial product (top bit 2**0) sits at s = 20 < 27: kept,
    # and 2**-8 (s = 28) is out of bounds.
    cfg = PEConfig(lanes=1)
    res = run_oracle(bits([2.0**10, 1.0, 2.0**-8]), bits([2.0**10, 1.0, 1.0]), cfg)
    assert res.value == 2.0**20 + 1
    assert res.terms_out_of_bounds == 1
    assert res.baseline_value == 2.0**20 + 1  # the exact sum needs 29 bits: rounds back
    res = run_oracle(bits([2.0**10, 1.0, 2.0**-3]), bits([2.0**10, 1.0, 1.0]), cfg)
    assert res.terms_out_of_bounds == 0  # s = 20 + 3 = 23 < 27
    assert res.value == res.baseline_value == 2.0**20 + 1 + 2.0**-3


def test_truncation_then_round_to_nearest_even() -> None:
    # 2**24 + 1 is a tie between 2**24 and 2**24 + 2: even wins; + 3 more is a tie, up to + 4.
    cfg = PEConfig(lanes=1)
    res = run_oracle(bits([2.0**12, 1.0]), bits([2.0**12, 1.0]), cfg)
    assert res.value == res.baseline_value == 2.0**24
    res = run_oracle(bits([2.0**12, 3.0]), bits([2.0**12, 1.0]), cfg)
    assert res.value == res.baseline_value == 2.0**24 + 4


def test_min_cycles_zero_lanes_and_tail() -> None:
    cfg = PEConfig(lanes=4, min_cycles=2)
    res = run_oracle(bits([0, 0, 0, 0, 7]), bits([1, 1, 1, 1, 0]), cfg)
    assert res.step_cycles == [2, 2]
    assert res.idle_lane_steps == 8
    assert res.terms_total == 0
    assert res.value == 0.0


def test_overflow_gives_a_sticky_infinity() -> None:
    big = 2.0**100
    res = run_oracle(bits([big, big, -1.0]), bits([big, 1.0, 1.0]), PEConfig(lanes=1))
    assert res.value == res.baseline_value == float("inf")


def test_top_bit() -> None:
    assert top_bit(Fraction(1)) == 0
    assert top_bit(Fraction(-3, 2)) == 0
    assert top_bit(Fraction(1, 3)) == -2
    assert top_bit(Fraction(2**-149)) == -149


def test_round_accumulator_equals_float32_rounding() -> None:
    rng = np.random.default_rng(0)
    mant = rng.integers(1, 1 << 53, size=3000)
    exps = rng.integers(-200, 140, size=3000)
    x = np.ldexp(mant.astype(np.float64), exps - 53) * rng.choice([-1.0, 1.0], size=3000)
    x[:3] = [2.0**-150, 3 * 2.0**-151, (2.0**24 + 1) * 2**-10]  # ties at the bottom and middle
    with np.errstate(over="ignore"):
        expected = x.astype(np.float32)  # numpy rounds float64 -> float32 once, nearest even
    for value, want in zip(x.tolist(), expected.tolist(), strict=True):
        got = round_accumulator(Fraction(value), 24)
        assert float(got) == want or (np.isinf(want) and got == want), value


def test_round_accumulator_at_8_bits_is_a_bfloat16_cast() -> None:
    # bfloat16 has an 8-bit significand and float32's exponent range: torch's float32 ->
    # bfloat16 cast rounds each float32 value once, to nearest even (an independent rounding).
    x = torch.randn(2000) * torch.exp2(torch.randint(-100, 100, (2000,)).float())
    x[:4] = torch.tensor([1 + 2.0**-8, 1 + 3 * 2.0**-8, -(1 + 2.0**-8), 255.5])  # ties
    for value, want in zip(x.tolist(), x.bfloat16().float().tolist(), strict=True):
        assert float(round_accumulator(Fraction(value), 8)) == want, value


def test_round_accumulator_at_11_bits_is_a_float16_cast() -> None:
    # float16 has an 11-bit significand; inside its normal range (2**-14 .. 2**15) the float32
    # -> float16 cast is the same single nearest-even rounding.
    x = torch.randn(2000) * torch.exp2(torch.randint(-10, 10, (2000,)).float())
    x = x[(x.abs() >= 2.0**-14) & (x.abs() < 2.0**15)]
    x[:2] = torch.tensor([1 + 2.0**-11, 1 + 3 * 2.0**-11])  # ties: to 1 and to 1 + 2**-9
    for value, want in zip(x.tolist(), x.half().float().tolist(), strict=True):
        assert float(round_accumulator(Fraction(value), 11)) == want, value


@pytest.mark.parametrize("bits_", [8, 11, 16, 24])
def test_round_accumulator_from_the_answer_back(bits_: int) -> None:
    # Built from the answer: x = (m + f) * 2**q with an integer significand m of exactly
    # `bits_` bits; the rounded value is m * 2**q for f < 1/2, (m + 1) * 2**q for f > 1/2, and
    # the even one of the two for f = 1/2 (m + 1 = 2**bits_ carries into the next binade).
    rng = np.random.default_rng(bits_)
    for _ in range(300):
        m = int(rng.integers(2 ** (bits_ - 1), 2**bits_))
        q = int(rng.integers(-60, 60))
        f = Fraction(int(rng.integers(0, 4)), 4)  # 0, 1/4, 1/2, 3/4
        up = f > Fraction(1, 2) or (f == Fraction(1, 2) and m % 2 == 1)
        want = (m + up) * Fraction(2) ** q
        assert round_accumulator((m + f) * Fraction(2) ** q, bits_) == want, (m, f, q)
        assert round_accumulator(-(m + f) * Fraction(2) ** q, bits_) == -want, (m, f, q)
    top = 2**bits_ - 1  # the largest significand: a tie carries into the next power of two
    assert round_accumulator(top + Fraction(1, 2), bits_) == 2**bits_


def test_round_accumulator_overflows_at_the_float32_top() -> None:
    # float32's largest value is 2**128 - 2**104; half an ulp above it, 2**128 - 2**103, is a
    # tie between it (odd significand) and 2**128 (even): rounds to 2**128, which overflows.
    assert round_accumulator(Fraction(2**128 - 2**103), 24) == float("inf")
    assert round_accumulator(-Fraction(2**128 - 2**103), 24) == float("-inf")
    just_below = Fraction(2**128 - 2**103 - 1)
    assert round_accumulator(just_below, 24) == 2**128 - 2**104


def test_baseline_takes_one_cycle_per_step() -> None:
    # 11 pairs on 4 lanes: 3 steps (the last with 3 lanes), one cycle each
    res = run_oracle(bits([1.0] * 11), bits([1.0] * 11), PEConfig(lanes=4))
    assert res.baseline_cycles == 3 and len(res.step_cycles) == 3
