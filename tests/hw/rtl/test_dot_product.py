"""The dot-product PEs' RTL: the exact one equals the oracle's baseline value bit for bit; the
windowed one equals an independent Fraction model of its datapath, and the oracle's baseline
when nothing falls below its window."""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hw.pe.test_fast import reductions
from tests.hw.rtl._cases import PINNED, bf16, every_significand
from thrifty.hw import PEConfig
from thrifty.hw.pe.oracle import add_to_accumulator, decode_bfloat16, run_oracle, top_bit
from thrifty.hw.rtl import simulate_dot_product


def same_float(x: float, y: float) -> bool:
    return struct.pack("<d", x) == struct.pack("<d", y)


def windowed_baseline(a_bits: list[int], b_bits: list[int], config: PEConfig) -> float:
    """Hand model of DotProductPE: products truncated at the grid 7 bits below the window,
    summed exactly, the sum truncated to the window, one rounding into the accumulator."""
    acc: Fraction | float = Fraction(0)
    window = config.window_bits
    for s in range(0, len(a_bits), config.lanes):
        pairs = []
        for x, y in zip(a_bits[s : s + config.lanes], b_bits[s : s + config.lanes], strict=True):
            p, q = decode_bfloat16(x), decode_bfloat16(y)
            if p is not None and q is not None:
                pairs.append((p, q))
        if not pairs:
            continue
        top = max(p[1] + q[1] - 268 + 15 for p, q in pairs) + config.headroom
        if config.window == "accumulator" and acc != 0:
            top = max(top, top_bit(acc))
        grid = Fraction(2) ** (top - window - 6)
        total = Fraction(0)
        for p, q in pairs:
            product = p[2] * q[2] * Fraction(2) ** (p[1] + q[1] - 268)
            total += (-1 if p[0] ^ q[0] else 1) * math.trunc(product / grid) * grid
        unit = Fraction(2) ** (top - window + 1)
        acc = add_to_accumulator(acc, math.trunc(total / unit) * unit, config.accumulator_bits)
    return float(acc)


CONFIGS = [
    PEConfig(),
    PEConfig(window="product"),
    PEConfig(lanes=3, accumulator_bits=11, guard_bits=0, headroom=0),
]


@pytest.mark.parametrize("config", CONFIGS, ids=["default", "product window", "narrow"])
def test_windowed_pe_equals_its_model(config: PEConfig) -> None:
    cases = [*PINNED.values(), every_significand(config.lanes)]
    values = simulate_dot_product(cases, config)
    for (a, b), value in zip(cases, values, strict=True):
        assert same_float(value, windowed_baseline(a, b, config)), (a, b)


@settings(max_examples=6)
@given(
    st.lists(reductions(), min_size=3, max_size=6),
    st.sampled_from(CONFIGS),
)
def test_windowed_pe_equals_its_model_on_generated_cases(
    cases: list[tuple[list[int], list[int]]], config: PEConfig
) -> None:
    values = simulate_dot_product(cases, config)
    for (a, b), value in zip(cases, values, strict=True):
        assert same_float(value, windowed_baseline(a, b, config)), (a, b)


def test_windowed_pe_equals_the_oracle_baseline_within_its_window() -> None:
    """Products of equal exponents all land on the grid: nothing is dropped."""
    a = [bf16(f % 2, 127, f) for f in range(128)]
    b = [bf16(0, 120, 127 - f) for f in range(128)]
    for config in CONFIGS[:2]:
        (value,) = simulate_dot_product([(a, b)], config)
        assert same_float(value, run_oracle(a, b, config).baseline_value)


def test_exact_pe_equals_the_oracle_baseline() -> None:
    config = PEConfig()
    names = (
        "cancellation",
        "largest exponent spread",
        "overflow sticks at infinity",
        "ties round to even",
    )
    cases = [PINNED[name] for name in names]
    values = simulate_dot_product(cases, config, exact=True)
    for (a, b), value in zip(cases, values, strict=True):
        assert same_float(value, run_oracle(a, b, config).baseline_value), (a, b)
    # the window really matters here: the windowed PE differs on at least one of these
    windowed = simulate_dot_product(cases, config)
    assert windowed != values
