"""The fast model equals the oracle bit for bit: values, cycles and every count.

Hypothesis draws reductions of bfloat16 bit patterns clustered around a random exponent with a
random spread (so terms fall in and out of bounds), with zeros, signed zeros, subnormals and, in
some cases, Inf/NaN zeroed by policy; and draws PE configurations. Known edge cases are pinned.
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from thrifty.hw import PEConfig, run_pe
from thrifty.numerics import bfloat16_bits_to_tensor

ONE = 0x3F80  # 1.0
NEG = 0x8000  # sign bit


def bf16(sign: int, exponent: int, fraction: int) -> int:
    return (sign << 15) | (exponent << 7) | fraction


@st.composite
def reductions(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    k = draw(st.integers(0, 40))
    center = draw(st.integers(1, 254))
    spread = draw(st.sampled_from([0, 1, 3, 8, 20, 60, 253]))
    with_zeros = draw(st.booleans())

    def value() -> st.SearchStrategy[int]:
        normal = st.builds(
            bf16,
            st.integers(0, 1),
            st.integers(max(1, center - spread), min(254, center + spread)),
            st.integers(0, 127),
        )
        special = st.sampled_from([0, NEG, 0x0001, 0x807F])  # zeros and subnormals
        return st.one_of(normal, special) if with_zeros else normal

    a = draw(st.lists(value(), min_size=k, max_size=k))
    b = draw(st.lists(value(), min_size=k, max_size=k))
    if with_zeros:  # post-ReLU-like: a random half of a is zero
        keep = draw(st.lists(st.booleans(), min_size=k, max_size=k))
        a = [x if kept else 0 for x, kept in zip(a, keep, strict=True)]
    return a, b


configs = st.builds(
    PEConfig,
    lanes=st.sampled_from([1, 2, 3, 8, 16]),
    accumulator_bits=st.sampled_from([8, 11, 24]),
    guard_bits=st.integers(0, 8),
    headroom=st.integers(0, 8),
    encoding=st.sampled_from(["naf", "binary", "booth4"]),
    min_cycles=st.integers(0, 2),
    nonfinite=st.just("zero"),
    window=st.sampled_from(["accumulator", "product"]),
    product_window_bits=st.integers(8, 32),
)


def assert_fast_equals_oracle(a: list[int], b: list[int], config: PEConfig) -> None:
    ta = bfloat16_bits_to_tensor(np.array(a, dtype=np.uint16))
    tb = bfloat16_bits_to_tensor(np.array(b, dtype=np.uint16))
    fast = run_pe(ta, tb, config)
    slow = run_pe(ta, tb, config, reference=True)
    np.testing.assert_array_equal(fast.value.view(np.uint32), slow.value.view(np.uint32))
    np.testing.assert_array_equal(
        fast.baseline_value.view(np.uint32), slow.baseline_value.view(np.uint32)
    )
    np.testing.assert_array_equal(fast.cycles, slow.cycles)
    for name in ("terms_total", "terms_out_of_bounds", "terms_processed", "idle_lane_steps"):
        np.testing.assert_array_equal(getattr(fast.stats, name), getattr(slow.stats, name))


E127 = 127  # exponent field of 1.0 .. 1.99


@given(reductions(), configs)
@example(([0] * 9, [ONE] * 9), PEConfig())  # all zeros
@example(([NEG, 0, NEG], [ONE, NEG, NEG]), PEConfig())  # signed zeros
@example(([0x0001, 0x807F, ONE], [ONE, ONE, 0x0040]), PEConfig())  # subnormals flushed
@example(  # one huge product among tiny ones
    ([bf16(0, 200, 5)] + [bf16(i % 2, 40, i) for i in range(15)], [bf16(0, 180, 0)] * 16),
    PEConfig(),
)
@example(  # cancellation: x*y - x*y, then a tiny remainder
    ([bf16(0, 150, 77), bf16(0, 150, 77), bf16(0, 20, 3)], [bf16(0, 140, 9), bf16(1, 140, 9), ONE]),
    PEConfig(lanes=2),
)
@example(  # widest exponent spread inside one step, both signs
    ([bf16(0, 254, 127), bf16(1, 1, 0), bf16(0, 1, 1), bf16(1, 254, 126)], [bf16(0, 1, 0)] * 4),
    PEConfig(lanes=4),
)
@example(([bf16(0, E127, f) for f in range(128)], [ONE] * 128), PEConfig())  # every significand
@example(
    ([bf16(0, E127, f) for f in range(128)], [bf16(1, 100, 127 - f) for f in range(128)]),
    PEConfig(encoding="booth4", lanes=3),
)
@example(([bf16(0, E127, 3)] * 13, [bf16(0, E127, 5)] * 13), PEConfig())  # K = 13, 8 lanes
@example(  # ties: 2**24 + 1 rounds to even, then 2**24 + 3 -> 2**24 + 4
    ([bf16(0, 139, 0), ONE, bf16(0, 128, 64)], [bf16(0, 139, 0), ONE, ONE]),
    PEConfig(lanes=1),
)
@example(  # overflow of the float32 accumulator sticks at Inf
    ([bf16(0, 230, 0), bf16(1, 230, 0), ONE], [bf16(0, 230, 0), bf16(0, 230, 0), ONE]),
    PEConfig(lanes=1),
)
@example(  # a tiny accumulator far below the next step's products (superaccumulator path)
    ([bf16(0, 10, 1), bf16(0, 250, 3), bf16(1, 250, 3)], [bf16(0, 10, 1), bf16(0, 250, 9), ONE]),
    PEConfig(lanes=1),
)
@example(([0x7F80, ONE, 0xFFC0], [ONE, ONE, ONE]), PEConfig(nonfinite="zero"))  # Inf/NaN zeroed
@example(  # product window: a big accumulator above a step of small products
    ([bf16(0, 160, 3), bf16(0, 120, 77), bf16(1, 121, 5)], [bf16(0, 150, 1), ONE, ONE]),
    PEConfig(lanes=2, window="product"),
)
@example(  # product window: every significand, the narrowest window
    ([bf16(0, E127, f) for f in range(128)], [bf16(f % 2, 127 - f % 5, f) for f in range(128)]),
    PEConfig(window="product", product_window_bits=8, headroom=0),
)
@example(  # decoded zeros beside the extreme exponent sums: 508, 2, and a zero met by 254
    (
        [bf16(0, 254, 127), 0, bf16(1, 1, 0), NEG],
        [bf16(0, 254, 1), bf16(0, 254, 127), bf16(0, 1, 5), bf16(1, 254, 0)],
    ),
    PEConfig(lanes=4),
)
@example(  # the only live lane has the smallest product beside a zero met by the largest exponent
    ([0, bf16(0, 1, 3), bf16(1, 1, 127)], [bf16(0, 254, 0), bf16(0, 1, 9), 0]),
    PEConfig(lanes=3),
)
def test_fast_model_equals_oracle(case: tuple[list[int], list[int]], config: PEConfig) -> None:
    a, b = case
    assert_fast_equals_oracle(a, b, config)


def test_many_reductions_at_once_equal_the_oracle() -> None:
    """A batch mixing training-like distributions, reduced in one call of each model."""
    rng = np.random.default_rng(3)
    rows, k = 48, 29
    weights = rng.normal(0, 0.05, size=(rows, k))
    acts = np.maximum(rng.normal(0, 1, size=(rows, k)), 0)
    grads = rng.normal(0, 1, size=(rows, k)) * np.exp2(rng.integers(-40, 10, size=(rows, k)))
    a = np.concatenate([acts, grads, weights]).astype(np.float32)
    b = np.concatenate([weights, acts, grads]).astype(np.float32)
    for config in (
        PEConfig(),
        PEConfig(encoding="binary", guard_bits=0, headroom=0),
        PEConfig(window="product"),
    ):
        fast = run_pe(a, b, config)
        slow = run_pe(a, b, config, reference=True)
        np.testing.assert_array_equal(fast.value.view(np.uint32), slow.value.view(np.uint32))
        np.testing.assert_array_equal(fast.baseline_value, slow.baseline_value)
        np.testing.assert_array_equal(fast.cycles, slow.cycles)
        np.testing.assert_array_equal(fast.stats.terms_processed, slow.stats.terms_processed)
        np.testing.assert_array_equal(fast.stats.idle_lane_steps, slow.stats.idle_lane_steps)
        assert fast.stats.terms_out_of_bounds.sum() > 0  # the gradients exercise the cut


def test_exact_sum_and_rounding_over_the_whole_exponent_range() -> None:
    """The fast model's exact adder (int64 or superaccumulator) against Fractions."""
    from fractions import Fraction

    from thrifty.hw.pe.fast import SA_LIMBS, _sum_round
    from thrifty.hw.pe.oracle import round_accumulator

    rng = np.random.default_rng(5)
    limbs = np.zeros(SA_LIMBS + 2, dtype=np.int64)
    for trial in range(3000):
        n = int(rng.integers(1, 10))
        mants = rng.integers(-(1 << 40), 1 << 40, size=n) >> rng.integers(0, 40, size=n)
        centre = int(rng.integers(-280, 220))
        exps = centre + rng.integers(0, [1, 30, 80, 500][trial % 4], size=n)
        exps = np.minimum(exps, 260)
        if trial % 5 == 0 and n > 1:  # exact cancellation of the largest addend
            mants[1], exps[1] = -mants[0], exps[0]
        m, e, inf = _sum_round(mants.astype(np.int64), exps.astype(np.int64), n, 24, limbs)
        pairs = zip(mants.tolist(), exps.tolist(), strict=True)
        exact = sum(Fraction(x) * Fraction(2) ** y for x, y in pairs)
        want = round_accumulator(exact, 24)
        got = (np.sign(m) * np.inf) if inf else Fraction(int(m)) * Fraction(2) ** int(e)
        assert got == want, (mants.tolist(), exps.tolist())
        assert not limbs.any()  # the superaccumulator is left clear


def test_decoded_operands_hold_every_bfloat16_pattern() -> None:
    """Every zero and normal pattern decodes to its exponent, signed significand and NAF terms.

    The term count is checked against the identity weight(NAF(m)) = popcount((3m ^ m) >> 1),
    independent of the term tables; the exponent of a zero keeps every sum with a normal
    exponent negative, and a dead lane's lifted sum above every live one.
    """
    from thrifty.hw.pe.fast import DEAD_LANE_LIFT, ZERO_EXPONENT, decode_operand
    from thrifty.hw.pe.operands import kernel_arguments

    patterns = np.arange(1 << 16, dtype=np.uint16)
    exponent = (patterns.astype(np.int64) >> 7) & 0xFF
    patterns = patterns[exponent < 255]  # NaN/Inf never reach the kernels (policies)
    _, count_from, _ = kernel_arguments(PEConfig(encoding="naf"))
    decoded = decode_operand(patterns.reshape(1, -1), count_from)[0].astype(np.int64)
    bits = patterns.astype(np.int64)
    exponent, fraction, sign = (bits >> 7) & 0xFF, bits & 0x7F, bits >> 15
    significand = 128 + fraction
    zero = exponent == 0
    naf_terms = np.array([bin(((3 * m) ^ m) >> 1).count("1") for m in significand.tolist()])
    np.testing.assert_array_equal(decoded[0], np.where(zero, ZERO_EXPONENT, exponent))
    np.testing.assert_array_equal(decoded[1], np.where(zero, 0, (1 - 2 * sign) * significand))
    np.testing.assert_array_equal(decoded[2], np.where(zero, 0, naf_terms))
    assert ZERO_EXPONENT + 254 < 0  # a zero met by the largest exponent is still dead
    assert 2 * ZERO_EXPONENT + DEAD_LANE_LIFT > 254 + 254  # lifted above the largest live sum
