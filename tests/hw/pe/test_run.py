"""run_pe's API: shapes, input conversion, the baseline, errors, and the error report."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from thrifty.errors import ConfigError, NumericsError
from thrifty.hw import PEConfig, error_report, run_pe
from thrifty.numerics import bfloat16_bits_to_tensor, to_bfloat16_bits


def test_shapes_and_dtypes() -> None:
    a = torch.randn(2, 3, 20)
    res = run_pe(a, torch.randn(2, 3, 20))
    assert res.value.shape == res.cycles.shape == res.stats.terms_total.shape == (2, 3)
    assert res.value.dtype == np.float32 and res.cycles.dtype == np.int64
    assert (res.baseline_cycles == 3).all()  # ceil(20 / 8) steps, one cycle each
    assert (
        res.stats.terms_total == res.stats.terms_processed + res.stats.terms_out_of_bounds
    ).all()
    broadcast = run_pe(a, torch.ones(20))
    assert broadcast.value.shape == (2, 3)


def test_float32_input_is_rounded_like_torch() -> None:
    x = torch.randn(4, 16)
    y = torch.randn(4, 16)
    from_f32 = run_pe(x, y)
    from_bf16 = run_pe(x.bfloat16(), y.bfloat16())
    np.testing.assert_array_equal(from_f32.value, from_bf16.value)
    truncated = run_pe(x, y, PEConfig(rounding="truncate"))
    tx = bfloat16_bits_to_tensor(to_bfloat16_bits(x, "truncate"))
    ty = bfloat16_bits_to_tensor(to_bfloat16_bits(y, "truncate"))
    np.testing.assert_array_equal(truncated.value, run_pe(tx, ty).value)


def test_baseline_is_exact_when_the_float32_sums_are() -> None:
    a = torch.randint(-8, 8, (50, 24)).float()
    b = torch.randint(-8, 8, (50, 24)).float()
    res = run_pe(a, b)
    expected = (a.double() * b.double()).sum(-1).numpy()
    np.testing.assert_array_equal(res.baseline_value, expected)
    np.testing.assert_array_equal(res.value, expected)  # small integers: no term is cut


def test_more_terms_cost_more_cycles() -> None:
    ones = torch.ones(8)
    sparse = run_pe(torch.full((8,), 2.0), ones)  # one term per lane
    dense = run_pe(torch.full((8,), 1.0 + 1 / 4 + 1 / 16 + 1 / 64), ones)  # four terms
    assert sparse.cycles == 1 and dense.cycles == 4
    assert run_pe(torch.zeros(8), ones).cycles == 1  # min_cycles
    assert run_pe(torch.zeros(8), ones, PEConfig(min_cycles=0)).cycles == 0


def test_errors_name_the_problem() -> None:
    with pytest.raises(NumericsError, match="do not broadcast"):
        run_pe(torch.ones(3, 4), torch.ones(2, 4))
    with pytest.raises(NumericsError, match="a holds 1 NaN/Inf"):
        run_pe(torch.tensor([1.0, float("nan")]), torch.ones(2))
    with pytest.raises(NumericsError, match=r"shape \(\.\.\., K\)"):
        run_pe(torch.tensor(1.0), torch.tensor(1.0))
    with pytest.raises(ConfigError, match="lanes"):
        from thrifty._config import parse_config

        parse_config(PEConfig, {"lanes": 0}, "pe config")
    res = run_pe(torch.tensor([1.0, float("inf")]), torch.ones(2), PEConfig(nonfinite="zero"))
    assert res.value == 1.0 and res.policy_counts.nonfinite_zeroed == 1


def test_error_report_against_float64() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(64, 100)).astype(np.float32)
    b = (rng.normal(size=(64, 100)) * np.exp2(rng.integers(-20, 0, size=(64, 100)))).astype(
        np.float32
    )
    report = error_report(a, b)
    assert report.reductions == 64
    assert 0 < report.baseline_max_rel_error < 1e-4
    assert report.term_max_abs_error >= report.term_mean_abs_error > 0
    assert report.term_differs_from_baseline > 0  # the window truncates some terms
    assert set(report.to_dict()) >= {"term_max_rel_error", "baseline_mean_abs_error"}
    exact = error_report(np.ones((2, 4), np.float32), np.ones((2, 4), np.float32))
    assert exact.term_max_abs_error == exact.baseline_max_abs_error == 0.0


def test_error_report_for_both_windows() -> None:
    """The product window (19 bits under the largest product) drops more than the 27-bit
    accumulator window on wide-spread data, and its report measures that cost."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(32, 64)).astype(np.float32)
    b = (rng.normal(size=(32, 64)) * np.exp2(rng.integers(-24, 0, size=(32, 64)))).astype(
        np.float32
    )
    wide = error_report(a, b, PEConfig())
    narrow = error_report(a, b, PEConfig(window="product"))
    assert narrow.reductions == wide.reductions == 32
    # the baseline does not depend on the window
    assert narrow.baseline_max_abs_error == wide.baseline_max_abs_error
    assert narrow.term_mean_abs_error > wide.term_mean_abs_error > 0
    assert narrow.term_differs_from_baseline >= wide.term_differs_from_baseline
    # the report reads the same result the PE model gives for that window
    result = run_pe(a, b, PEConfig(window="product"))
    assert error_report(a, b, PEConfig(window="product"), result=result) == narrow
