"""Subnormal and NaN/Inf policies: what is changed, what is counted, what the errors say."""

from __future__ import annotations

import numpy as np
import pytest

from thrifty.errors import NumericsError
from thrifty.numerics import apply_bfloat16_policies

ONE, NEG_ZERO, SUB, NEG_SUB, INF, NAN = 0x3F80, 0x8000, 0x0001, 0x807F, 0x7F80, 0x7FC0


def test_flush_counts_and_zeroes_subnormals_and_signed_zeros() -> None:
    bits = np.array([ONE, NEG_ZERO, SUB, NEG_SUB, 0], dtype=np.uint16)
    out, counts = apply_bfloat16_policies(bits)
    np.testing.assert_array_equal(out, [ONE, 0, 0, 0, 0])
    assert counts.subnormals_flushed == 2
    assert counts.nonfinite_zeroed == 0


def test_nonfinite_error_names_count_and_first_index() -> None:
    bits = np.array([[ONE, ONE], [INF, NAN]], dtype=np.uint16)
    with pytest.raises(NumericsError, match=r"b holds 2 NaN/Inf .*first at index \(1, 0\)"):
        apply_bfloat16_policies(bits, name="b")


def test_nonfinite_zero_counts() -> None:
    bits = np.array([INF, NAN, 0xFF80, ONE], dtype=np.uint16)
    out, counts = apply_bfloat16_policies(bits, nonfinite="zero")
    np.testing.assert_array_equal(out, [0, 0, 0, ONE])
    assert counts.nonfinite_zeroed == 3


def test_subnormal_error_and_unknown_policies() -> None:
    with pytest.raises(NumericsError, match="1 subnormal"):
        apply_bfloat16_policies(np.array([SUB, ONE], dtype=np.uint16), subnormals="error")
    with pytest.raises(NumericsError, match="'flush' or 'error'"):
        apply_bfloat16_policies(np.array([ONE], dtype=np.uint16), subnormals="keep")  # type: ignore[arg-type]
    with pytest.raises(NumericsError, match="'error' or 'zero'"):
        apply_bfloat16_policies(np.array([ONE], dtype=np.uint16), nonfinite="nan")  # type: ignore[arg-type]
