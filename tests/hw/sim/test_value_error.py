"""The numeric cost of each window against float64, on hand-worked reductions and a real layer."""

from __future__ import annotations

import numpy as np
import pytest

from tests.hw.sim.test_simulation import _tiny_conv
from thrifty.hw.config import HardwareConfig
from thrifty.hw.sim.value_error import numeric_cost, per_lane_fma_values, product_cost


def _config(window: str) -> HardwareConfig:
    return HardwareConfig.model_validate({"pe": {"window": window}})


def test_small_product_falls_out_of_the_product_window_only():
    # 1 + 2^-20: inside the 27-bit accumulator window (float32 holds it exactly), but 2^-20 lies
    # 20 + 4 (headroom) bits below the window top, beyond the 19-bit product window.
    a = np.array([[1.0, 2.0**-20], [3.0, -1.0]], np.float32)
    b = np.array([[1.0], [1.0]], np.float32)
    acc = product_cost(a, b, _config("accumulator"))
    assert acc.outputs == 2 and acc.term_error_max == 0.0 and acc.baseline_error_max == 0.0
    assert acc.term_differs == 0
    prod = product_cost(a, b, _config("product"))
    assert prod.term_error_max == pytest.approx(2.0**-20 / (1 + 2.0**-20), rel=0, abs=0)
    assert prod.term_error_sum == prod.term_error_max  # the second output (3 − 1) is exact
    assert prod.baseline_error_max == 0.0 and prod.term_differs == 1
    assert prod.term_error_mean == prod.term_error_max / 2


def test_per_lane_fma_rounds_once_per_mac_by_hand():
    # K = 4 over 2 lanes: lane 0 takes elements 0 and 2, lane 1 elements 1 and 3.
    # Lane 0: 1 + 2^-24 rounds to 1 (tie to even), lane 1: 2^-24 + 2^-24 = 2^-23 exactly;
    # then 1 + 2^-23 is exact in float32. The float64 sum is 1 + 3·2^-24.
    a = np.array([[1.0, 2.0**-24, 2.0**-24, 2.0**-24]], np.float32)
    b = np.ones((4, 1), np.float32)
    cfg = HardwareConfig.model_validate({"pe": {"lanes": 2}})
    got = per_lane_fma_values(a.astype(np.float64), b.astype(np.float64), 2)
    assert got.dtype == np.float32 and got[0, 0] == np.float32(1 + 2.0**-23)
    cost = product_cost(a, b, cfg)
    assert cost.fma_error_max == (3 * 2.0**-24 - 2.0**-23) / (1 + 3 * 2.0**-24)
    # Three lanes: the odd lane count pads the pairwise tree with a zero.
    three = per_lane_fma_values(np.array([[1.0, 2.0, 4.0, 8.0]]), np.ones((4, 1)), 3)
    assert three[0, 0] == 15.0


def test_zero_reductions_count_as_exact():
    zero = product_cost(np.zeros((3, 8), np.float32), np.ones((8, 2), np.float32),
                        _config("product"))  # fmt: skip
    assert (zero.outputs, zero.term_error_sum, zero.baseline_error_sum) == (6, 0.0, 0.0)


def test_trace_cost_is_seeded_additive_and_wider_for_the_product_window():
    geometry, tensors = _tiny_conv()
    entries = [{"op": op, "geometry": geometry, "tensors": tensors}
               for op in ("forward", "backward_data", "backward_weight")]  # fmt: skip
    acc = numeric_cost(entries, _config("accumulator"), rows=5)
    assert acc == numeric_cost(entries, _config("accumulator"), rows=5)
    parts = [numeric_cost([e], _config("accumulator"), rows=5, seed=0) for e in entries]
    assert parts[0].outputs == 2 * 5 * 2  # two groups, 5 sampled rows, 2 columns each
    assert sum(p.outputs for p in parts) == acc.outputs
    # The baseline's value path does not depend on the window.
    prod = numeric_cost(entries, _config("product"), rows=5)
    assert prod.baseline_error_sum == acc.baseline_error_sum
    assert prod.fma_error_sum == acc.fma_error_sum
    assert prod.term_error_sum > acc.term_error_sum
    data = prod.to_dict()
    assert data["term_error_mean"] == prod.term_error_sum / prod.outputs
