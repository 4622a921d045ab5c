"""The term-serial PE's RTL equals the oracle: value bit for bit, cycles per step, terms.

Amaranth's simulator runs the generated design (PE + its term recoder); each test simulates a
batch of reductions in one simulator run, since building the simulator dominates its cost.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hw.pe.test_fast import reductions
from tests.hw.rtl._cases import PINNED, every_significand, every_significand_in_one_lane
from thrifty.errors import ConfigError
from thrifty.hw import PEConfig
from thrifty.hw.pe.oracle import run_oracle
from thrifty.hw.rtl import TermRecoder, TermSerialPE, simulate_term_serial


def same_float(x: float, y: float) -> bool:
    return struct.pack("<d", x) == struct.pack("<d", y)


def assert_rtl_equals_oracle(cases: list[tuple[list[int], list[int]]], config: PEConfig) -> None:
    runs = simulate_term_serial(cases, config)
    for (a, b), run in zip(cases, runs, strict=True):
        want = run_oracle(a, b, config)
        assert same_float(run.value, want.value), (a, b, run.value, want.value)
        assert run.step_cycles == want.step_cycles, (a, b)
        assert run.cycles == want.cycles
        assert run.terms_processed == want.terms_processed


CONFIGS = {
    "default": PEConfig(),
    "product window": PEConfig(window="product"),
    "booth, 3 lanes, narrow": PEConfig(
        lanes=3, encoding="booth4", accumulator_bits=11, guard_bits=0, headroom=0, min_cycles=2
    ),
    "binary, narrowest product window": PEConfig(
        encoding="binary", window="product", product_window_bits=8, headroom=1
    ),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_pinned_cases_equal_the_oracle(name: str) -> None:
    config = CONFIGS[name]
    cases = [*PINNED.values(), every_significand(config.lanes)]
    assert_rtl_equals_oracle(cases, config)


def test_every_significand_in_one_lane() -> None:
    for config in (PEConfig(), PEConfig(lanes=2, window="product")):
        assert_rtl_equals_oracle([every_significand_in_one_lane(config.lanes)], config)


rtl_configs = st.builds(
    PEConfig,
    lanes=st.sampled_from([1, 2, 4, 8]),
    accumulator_bits=st.sampled_from([8, 16, 24]),
    guard_bits=st.integers(0, 4),
    headroom=st.integers(0, 5),
    encoding=st.sampled_from(["naf", "binary", "booth4"]),
    min_cycles=st.integers(1, 3),
    window=st.sampled_from(["accumulator", "product"]),
    product_window_bits=st.integers(8, 24),
)


@settings(max_examples=8)
@given(st.lists(reductions(), min_size=4, max_size=8), rtl_configs)
def test_generated_cases_equal_the_oracle(
    cases: list[tuple[list[int], list[int]]], config: PEConfig
) -> None:
    assert_rtl_equals_oracle(cases, config)


def test_a_config_the_generator_cannot_build_is_named() -> None:
    with pytest.raises(ConfigError, match=r"min_cycles=0 .* set pe.min_cycles >= 1"):
        TermSerialPE(PEConfig(min_cycles=0))
    with pytest.raises(ConfigError, match=r"encoding 'csd'.*use one of"):
        TermRecoder(8, "csd")
