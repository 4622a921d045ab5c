"""Hand-worked PE cases at every boundary that decides a count, for the oracle AND the fast model.

Each expected value below is worked by hand in the comments, never by the models' own formulas,
so an off-by-one shared by the oracle and the fast model (which agree with each other) still
fails here. Every case runs through four paths: `run_oracle`, `run_pe(reference=True)`,
`run_pe` (numba) and `pe_matmul` (numba, matrix-shaped).

Conventions used in the arithmetic (docs/pe.md): a bfloat16 value is m * 2**(e - 134) with the
significand m in [128, 255]; a product's E is the weight of bit 15 of the 16-bit significand
product, so 1.0 * 1.0 = 2**14 * 2**-14 has E = 1, and 2**-p * 1.0 has E = 1 - p. With the
default PE (W = 24 + 3 = 27, headroom 4), a step whose largest product is 1.0 * 1.0 has the
window top T = 1 + 4 = 5 and the window's lowest bit 2**(T - W + 1) = 2**-21. The only NAF term
of 2**-p (m = 128 = 2**7) sits at position 7 and lands at s = (T - E) + (8 - 7) = 5 + p.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
import torch

from thrifty.hw import PEConfig, pe_matmul, run_pe
from thrifty.hw.pe.oracle import run_oracle
from thrifty.numerics import to_bfloat16_bits

BF16_MAX = float.fromhex("0x1.fep127")  # 0x7F7F: m = 255, exponent field 254
BF16_MIN_NORMAL = 2.0**-126  # 0x0080: m = 128, exponent field 1


class Outcome(NamedTuple):
    """What one reduction gives: values, cycles and the four term/lane counts."""

    value: float
    baseline_value: float
    cycles: int
    terms_total: int
    terms_out_of_bounds: int
    terms_processed: int
    idle_lane_steps: int


def _all_paths(a: list[float], b: list[float], config: PEConfig) -> dict[str, Outcome]:
    """The reduction sum a[k] * b[k] through the oracle and the three public paths."""
    a32, b32 = np.array(a, dtype=np.float32), np.array(b, dtype=np.float32)
    a_bits = [int(x) for x in to_bfloat16_bits(a32)]
    b_bits = [int(x) for x in to_bfloat16_bits(b32)]
    # every input is a bfloat16 value already: no rounding hides in the cases
    assert torch.equal(torch.from_numpy(a32).bfloat16().float(), torch.from_numpy(a32))
    assert torch.equal(torch.from_numpy(b32).bfloat16().float(), torch.from_numpy(b32))
    o = run_oracle(a_bits, b_bits, config)
    out = {
        "oracle": Outcome(
            o.value,
            o.baseline_value,
            o.cycles,
            o.terms_total,
            o.terms_out_of_bounds,
            o.terms_processed,
            o.idle_lane_steps,
        )
    }
    for name, reference in (("run_pe(reference)", True), ("run_pe", False)):
        r = run_pe(torch.from_numpy(a32), torch.from_numpy(b32), config, reference=reference)
        out[name] = Outcome(
            float(r.value),
            float(r.baseline_value),
            int(r.cycles),
            int(r.stats.terms_total),
            int(r.stats.terms_out_of_bounds),
            int(r.stats.terms_processed),
            int(r.stats.idle_lane_steps),
        )
    m = pe_matmul(torch.from_numpy(a32)[None, :], torch.from_numpy(b32)[:, None], config)
    out["pe_matmul"] = Outcome(
        float(m.value[0, 0]),
        float(m.baseline_value[0, 0]),
        int(m.cycles[0, 0]),
        int(m.terms_total[0, 0]),
        int(m.terms_out_of_bounds[0, 0]),
        int(m.terms_processed[0, 0]),
        int(m.idle_lane_steps[0, 0]),
    )
    return out


def _check(a: list[float], b: list[float], config: PEConfig, expected: Outcome) -> None:
    for path, got in _all_paths(a, b, config).items():
        assert got == expected, f"{path}: got {got}, worked by hand {expected}"


# ------------------------------------------------------------------ s = W - 1 and s = W
def test_a_term_at_s_w_minus_1_is_counted_and_kept() -> None:
    # 2**-21 * 1.0: E = -20, its term at s = 5 + 21 = 26 = W - 1: in bounds. Its partial product
    # 2**-21 is exactly the window's lowest bit, so it survives truncation: 1 + 2**-21 (float32
    # holds it: 22 fraction bits). Lanes: 8 - 2 missing = 6 idle. One term per lane: 1 cycle.
    _check(
        [1.0, 2.0**-21], [1.0, 1.0], PEConfig(), Outcome(1 + 2.0**-21, 1 + 2.0**-21, 1, 2, 0, 2, 6)
    )


def test_a_term_at_s_w_is_out_of_bounds() -> None:
    # 2**-22 * 1.0: its term at s = 5 + 22 = 27 = W: out of bounds, so the PE's sum stays 1.0 while
    # the baseline adds the exact product: 1 + 2**-22 (23 fraction bits: float32 holds it).
    # Idle lane-steps: 6 missing lanes + the lane whose only term fell out = 7.
    _check([1.0, 2.0**-22], [1.0, 1.0], PEConfig(), Outcome(1.0, 1 + 2.0**-22, 1, 2, 1, 1, 7))


def test_a_partial_product_straddling_the_window_bottom_is_truncated() -> None:
    # b = 1.5 (m = 192) has the same exponent as 1.0: E = -20 and s = 26 as above. Its partial
    # product 1.5 * 2**-21 = 2**-21 + 2**-22 keeps only 2**-21 (the window's lowest bit).
    # Baseline: 1 + 3 * 2**-22 exactly.
    _check(
        [1.0, 2.0**-21],
        [1.0, 1.5],
        PEConfig(),
        Outcome(1 + 2.0**-21, 1 + 3 * 2.0**-22, 1, 2, 0, 2, 6),
    )
    # A negative partial product: the step's sum 1 - 1.5 * 2**-21 = (2**21 - 1.5) * 2**-21
    # truncates to (2**21 - 2) * 2**-21 = 1 - 2**-20. Baseline 1 - 3 * 2**-22 (exact in float32).
    _check(
        [1.0, -(2.0**-21)],
        [1.0, 1.5],
        PEConfig(),
        Outcome(1 - 2.0**-20, 1 - 3 * 2.0**-22, 1, 2, 0, 2, 6),
    )
    # A negative sum truncates TOWARD ZERO: -(2**21 - 1.5) * 2**-21 -> -(2**21 - 2) * 2**-21 =
    # -(1 - 2**-20) (a floor would give -(1 - 2**-21)).
    _check(
        [-1.0, 2.0**-21],
        [1.0, 1.5],
        PEConfig(),
        Outcome(-(1 - 2.0**-20), -(1 - 3 * 2.0**-22), 1, 2, 0, 2, 6),
    )


@pytest.mark.parametrize(
    ("guard_bits", "p", "out"),
    [
        # W = 24 + g; s = 5 + p: out of bounds exactly when 5 + p >= 24 + g.
        (0, 18, 0),  # s = 23 = W - 1
        (0, 19, 1),  # s = 24 = W
        (8, 26, 0),  # s = 31 = W - 1
        (8, 27, 1),  # s = 32 = W
    ],
)
def test_guard_bits_move_the_boundary_one_for_one(guard_bits: int, p: int, out: int) -> None:
    # When in bounds the partial product 2**-p is at the window bottom 2**(5 - W + 1) = 2**-p
    # and is kept; the 24-bit accumulator then rounds 1 + 2**-p: p <= 23 is exact, p = 26 is
    # below half an ulp (2**-24) and rounds to 1. The baseline rounds the same exact sum.
    cfg = PEConfig(guard_bits=guard_bits)
    exact = np.float32(1 + 2.0**-p)  # float32 rounding of the exact sum (numpy, not the model)
    term_value = 1.0 if out else float(exact)
    _check(
        [1.0, 2.0**-p],
        [1.0, 1.0],
        cfg,
        Outcome(term_value, float(exact), 1, 2, out, 2 - out, 6 + out),
    )


# ------------------------------------------------------------------ headroom edge
@pytest.mark.parametrize(
    ("headroom", "p", "out"),
    [
        # T = 1 + h; s = (1 + h) - (1 - p) + 1 = h + p + 1; out when h + p + 1 >= 27.
        (0, 25, 0),  # s = 26
        (0, 26, 1),  # s = 27
        (4, 21, 0),  # s = 26
        (5, 21, 1),  # s = 27: one more headroom bit pushes the same term out
        (8, 17, 0),  # s = 26
        (8, 18, 1),  # s = 27
    ],
)
def test_headroom_edge(headroom: int, p: int, out: int) -> None:
    cfg = PEConfig(headroom=headroom)
    got = _all_paths([1.0, 2.0**-p], [1.0, 1.0], cfg)
    for path, outcome in got.items():
        assert outcome.terms_out_of_bounds == out, path
        assert outcome.terms_processed == 2 - out, path
        assert outcome.idle_lane_steps == 6 + out, path
        # in bounds, 2**-p sits exactly at the window bottom 2**(1 + h - 26) = 2**-p: kept
        assert outcome.value == (1.0 if out else float(np.float32(1 + 2.0**-p))), path


def test_an_all_out_of_bounds_step_costs_min_cycles_and_adds_nothing() -> None:
    # W = 8 + 0 = 8, headroom 8: T = E + 8, so a position-7 term (every power of two) lands at
    # s = 8 + 1 = 9 >= 8 and even a position-8 term at s = 8: no lane has an effectual term.
    # The step costs min_cycles, adds 0 (nothing in the window); the baseline adds 1 + 2 = 3.
    for min_cycles in (0, 1, 3):
        cfg = PEConfig(accumulator_bits=8, guard_bits=0, headroom=8, min_cycles=min_cycles)
        _check([1.0, 2.0], [1.0, 1.0], cfg, Outcome(0.0, 3.0, min_cycles, 2, 2, 0, 8))


def test_headroom_7_keeps_only_the_position_8_term() -> None:
    # 1.75 = 224 * 2**-7, NAF 224 = 2**8 - 2**5. W = 8, headroom 7: T = 1 + 7 = 8. Position 8
    # lands at s = 7 (in), position 5 at s = 10 (out). The kept partial product is
    # 128 * 2**8 * 2**-14 = 2.0, whose only bit 2**1 is the window bottom 2**(8 - 8 + 1): kept.
    cfg = PEConfig(accumulator_bits=8, guard_bits=0, headroom=7, lanes=1)
    _check([1.75], [1.0], cfg, Outcome(2.0, 1.75, 1, 2, 1, 1, 0))


# ------------------------------------------------------------------ the accumulator sets the top
@pytest.mark.parametrize(
    ("acc", "acc_terms", "p", "out"),
    [
        # Step 1 (one active lane of 2) leaves `acc` in the accumulator, top bit floor(log2|acc|).
        # Step 2: products give 1 + 4 = 5, so T = max(5, top bit), and the term of 2**-p lands at
        # s = (T - (1 - p)) + 1.
        (2.0**4, 1, 21, 0),  # T = 5 (products): s = 26
        (2.0**5, 1, 21, 0),  # T = 5 (tie): s = 26
        (2.0**6, 1, 21, 1),  # T = 6 (accumulator): s = 27
        (-(2.0**6), 1, 21, 1),  # the accumulator's magnitude counts, not its sign
        (2.0**6, 1, 20, 0),  # T = 6: s = 26
        (1.5 * 2.0**5, 2, 21, 0),  # 48: top bit 5, T = 5; NAF 192 = 2**8 - 2**6: 2 terms
        (127.5, 2, 21, 1),  # m = 255 (NAF 2**8 - 2**0): top bit 6, T = 6: s = 27
    ],
)
def test_the_accumulator_sets_the_window_top(acc: float, acc_terms: int, p: int, out: int) -> None:
    cfg = PEConfig(lanes=2)
    exact = float(np.float32(acc + 1.0 + 2.0**-p))  # the baseline: exact sum, float32 rounding
    for path, got in _all_paths([acc, 0.0, 1.0, 2.0**-p], [1.0, 0.0, 1.0, 1.0], cfg).items():
        # cycles: step 1 feeds acc's terms, step 2 one term per lane; idle lane-steps: the zero
        # lane of step 1 and, when out, the lane of 2**-p
        expected = (acc_terms + 1, acc_terms + 2, out, acc_terms + 2 - out, 1 + out, exact)
        assert (
            got.cycles,
            got.terms_total,
            got.terms_out_of_bounds,
            got.terms_processed,
            got.idle_lane_steps,
            got.baseline_value,
        ) == expected, path


def test_the_accumulator_top_moves_the_value_bottom() -> None:
    # x = 1.125 * 2**-18 (m = 144, NAF 2**7 + 2**4), x * 1.0 has E = -17.
    # With 2**6 in the accumulator, T = 6: position 7 lands at s = 23 + 1 = 24 (in), position 4
    # at s = 23 + 4 = 27 (out). The PE adds 1 + 2**-18 to 64: the 24-bit accumulator's ulp is
    # 2**-17, so 65 + 2**-18 is a tie -> even: 65. The baseline adds 1 + 2**-18 + 2**-21: above
    # the tie -> 65 + 2**-17.
    x = 1.125 * 2.0**-18
    cfg = PEConfig(lanes=2)
    _check(
        [2.0**6, 0.0, 1.0, x],
        [1.0, 0.0, 1.0, 1.0],
        cfg,
        Outcome(65.0, 65 + 2.0**-17, 2, 4, 1, 3, 1),
    )
    # With 2**4 instead, T = 5 (products): position 4 lands at s = 26, in; all of x is kept
    # (its lowest bit 2**-21 is the window bottom 2**(5 - 26)): both PEs round the same exact
    # sum 17 + 2**-18 + 2**-21 (ulp 2**-19: 2.25 ulps -> 2) to 17 + 2**-18. x's 2 terms: 1 + 2
    # cycles.
    _check(
        [2.0**4, 0.0, 1.0, x],
        [1.0, 0.0, 1.0, 1.0],
        cfg,
        Outcome(17 + 2.0**-18, 17 + 2.0**-18, 3, 4, 0, 4, 1),
    )


# ------------------------------------------------------------------ all-zero steps
@pytest.mark.parametrize("min_cycles", [0, 1, 3])
def test_an_all_zero_step_costs_exactly_min_cycles(min_cycles: int) -> None:
    # Step 1: lanes hold 0 * x or x * 0: all idle, no term counted (a zero b idles a non-zero a).
    # Step 2: four lanes of 1.0 * 1.0, one term each: max(1, min_cycles) cycles; sum 4.0.
    cfg = PEConfig(lanes=4, min_cycles=min_cycles)
    a = [0.0, 0.0, 3.0, -0.0, 1.0, 1.0, 1.0, 1.0]
    b = [1.0, 0.0, 0.0, 5.0, 1.0, 1.0, 1.0, 1.0]
    _check(a, b, cfg, Outcome(4.0, 4.0, min_cycles + max(1, min_cycles), 4, 0, 4, 4))


def test_min_cycles_above_the_term_count_pads_busy_steps() -> None:
    # 3.0 = 192 * 2**-6, NAF 192 = 2**8 - 2**6: 2 terms. min_cycles 3 > 2: the step costs 3.
    _check([3.0], [1.0], PEConfig(lanes=1, min_cycles=3), Outcome(3.0, 3.0, 3, 2, 0, 2, 0))


# ------------------------------------------------------------------ the largest exponent spread
def test_the_largest_finite_exponent_spread_in_one_step() -> None:
    # Lane 0: the largest bfloat16 (m = 255, field 254) times 1.0: product BF16_MAX, finite in
    # float32. NAF 255 = 2**8 - 2**0: positions 8 and 0 at s = 4 and 12: both in, 2 cycles.
    # Lane 1: the smallest normal squared, 2**-252: E = -251 vs T = 128 + 4 = 132: s = 384.
    # Sum: BF16_MAX (float32 holds it; 2**-252 is far below its ulp 2**104) in both PEs.
    cfg = PEConfig()
    expected = Outcome(BF16_MAX, BF16_MAX, 2, 3, 1, 2, 7)
    _check([BF16_MAX, BF16_MIN_NORMAL], [1.0, BF16_MIN_NORMAL], cfg, expected)
    _check([BF16_MIN_NORMAL, BF16_MAX], [BF16_MIN_NORMAL, 1.0], cfg, expected)  # order-free
    # the other sign of the tiny product changes nothing either
    _check([BF16_MAX, -BF16_MIN_NORMAL], [1.0, BF16_MIN_NORMAL], cfg, expected)


def test_the_smallest_products_alone_round_in_the_subnormal_range() -> None:
    # 2**-75 * 2**-75 = 2**-150: half the smallest float32 subnormal 2**-149, a tie -> even: 0.
    # Three of them, 3 * 2**-150 = 1.5 * 2**-149: rounds to 2 * 2**-149 = 2**-148.
    # One lane sets T = E + 4 itself, so its only term (position 7) lands at s = 5: in bounds.
    tiny = 2.0**-75
    _check([tiny], [tiny], PEConfig(lanes=1), Outcome(0.0, 0.0, 1, 1, 0, 1, 0))
    _check([tiny] * 3, [tiny] * 3, PEConfig(lanes=4), Outcome(2.0**-148, 2.0**-148, 1, 3, 0, 3, 1))


def test_products_past_float32_give_infinity_that_sticks() -> None:
    # BF16_MAX * 2 = 2**129 - 2**121 overflows the float32 accumulator: +Inf in both PEs (step
    # 1: NAF 255 has 2 terms, both in bounds: 2 cycles). Step 2, -1.0 * 1.0 (E = 1): the infinite
    # accumulator's top counts as 2**128, so T = 128 and the term lands at s = 127 + 1 = 128:
    # out of bounds, its lane idle, the step costs min_cycles = 1. The infinity stays.
    _check([BF16_MAX, -1.0], [2.0, 1.0], PEConfig(lanes=1), Outcome(np.inf, np.inf, 3, 3, 1, 2, 1))


# ------------------------------------------------------------------ options that change counts
@pytest.mark.parametrize(
    ("encoding", "cycles", "terms"),
    [
        # 238 = 0b11101110: binary 6 terms; NAF 2**8 - 2**4 - 2**1: 3; Booth-4 digits
        # (j = 0..4) -2, 0, -1, 0, +1 -> -2**1 - 2**4 + 2**8: 3.
        # 153 = 0b10011001: binary 4; NAF 2**7 + 2**5 - 2**3 + 2**0: 4; Booth-4 digits
        # +1, -2, +2, -2, +1 -> 2**0 - 2**3 + 2**5 - 2**7 + 2**8: 5.
        # One lane: a step per value, cycles = terms of 238 + terms of 153.
        ("binary", 6 + 4, 10),
        ("naf", 3 + 4, 7),
        ("booth4", 3 + 5, 8),
    ],
)
def test_the_encoding_sets_the_term_count(encoding: str, cycles: int, terms: int) -> None:
    a = [238 / 128, 153 / 128]  # significands 238 and 153 at exponent 0
    exact = 238 / 128 + 153 / 128  # every term is in bounds: the value is exact either way
    _check(
        a,
        [1.0, 1.0],
        PEConfig(lanes=1, encoding=encoding),
        Outcome(exact, exact, cycles, terms, 0, terms, 0),
    )


def test_rounding_decides_the_bfloat16_operand() -> None:
    # 1 + 2**-8 + 2**-10 is not a bfloat16 value: nearest rounds it up to 1 + 2**-7 (above the
    # half-way point 1 + 2**-8), truncation drops the low bits: 1.0. Times 1.0, one lane.
    a = torch.tensor([1 + 2.0**-8 + 2.0**-10])
    b = torch.tensor([1.0])
    for rounding, want in (("nearest", 1 + 2.0**-7), ("truncate", 1.0)):
        cfg = PEConfig(lanes=1, rounding=rounding)
        r = run_pe(a, b, cfg)
        m = pe_matmul(a[None, :], b[:, None], cfg)
        assert float(r.value) == float(r.baseline_value) == float(m.value[0, 0]) == want, rounding
        # NAF of 129 (nearest: 2**7 + 2**0) is 2 terms; of 128 (truncate) 1 term
        assert int(r.cycles) == int(m.cycles[0, 0]) == (2 if rounding == "nearest" else 1)
