"""The per-lane FMA unit's RTL equals float32 arithmetic: acc = float32(acc + float32(a * b))."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hw.pe.test_fast import reductions
from tests.hw.rtl._cases import ONE, PINNED, bf16, every_significand
from thrifty.hw import PEConfig
from thrifty.hw.rtl import simulate_fma
from thrifty.numerics import bfloat16_bits_to_float32


def float32_mac(a_bits: list[int], b_bits: list[int]) -> float:
    """bfloat16 operands (subnormals flushed, as the PE sees them) into a float32 accumulator."""
    flush = [[x if (x >> 7) & 0xFF else 0 for x in v] for v in (a_bits, b_bits)]
    a = bfloat16_bits_to_float32(np.array(flush[0], dtype=np.uint16))
    b = bfloat16_bits_to_float32(np.array(flush[1], dtype=np.uint16))
    acc = np.float32(0)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for x, y in zip(a, b, strict=True):
            acc = np.float32(acc + np.float32(x * y))
    return float(acc)


def assert_equal(cases: list[tuple[list[int], list[int]]]) -> None:
    values = simulate_fma(cases, PEConfig())
    for (a, b), value in zip(cases, values, strict=True):
        want = float32_mac(a, b)
        if math.isnan(want):
            assert math.isnan(value), (a, b)
        else:
            assert value == want and math.copysign(1, value) == math.copysign(1, want), (a, b)


def test_pinned_cases() -> None:
    extra = [
        ([bf16(0, 254, 0), bf16(1, 254, 0)], [bf16(0, 254, 0), bf16(0, 254, 0)]),  # Inf - Inf
        ([bf16(0, 10, 3), bf16(1, 10, 5)], [bf16(0, 30, 7), bf16(0, 30, 9)]),  # subnormal products
        ([bf16(0, 1, 1), ONE], [bf16(0, 100, 127), ONE]),  # a product rounded into float32
    ]
    assert_equal([*PINNED.values(), every_significand(8), *extra])


@settings(max_examples=5)
@given(st.lists(reductions(), min_size=4, max_size=8))
def test_generated_cases(cases: list[tuple[list[int], list[int]]]) -> None:
    assert_equal(cases)
