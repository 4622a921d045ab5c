"""The documented contract of the term encoders: defaults, dtypes, shapes, padding, range limits.

These pin what the fast PE model and the integer mode rely on beyond the term values themselves
(tested exhaustively in test_terms.py): NAF as the default everywhere, int64 counts and tables
of shape (128, 10), int8 position/sign arrays padded with -1 / 0, empty inputs, and the largest
encodable value.
"""

from __future__ import annotations

import numpy as np
import pytest

from thrifty.errors import NumericsError
from thrifty.numerics.terms import (
    MAX_ENCODABLE,
    encode_terms,
    significand_tables,
    term_count,
    term_masks,
)


def test_naf_is_the_default_encoding() -> None:
    # 255 = 2**8 - 2**0 in NAF (2 terms); 8 terms in binary
    assert term_count(np.array([255])).tolist() == [2]
    assert encode_terms(np.array([255])).count.tolist() == [2]
    count_from, _ = significand_tables()
    assert count_from[255 - 128, 0] == 2
    plus, minus = term_masks(np.array([255]))
    assert (int(plus[0]), int(minus[0])) == (256, 1)


def test_counts_and_tables_are_int64_of_the_documented_shape() -> None:
    assert term_count(np.array([3, 5])).dtype == np.int64
    terms = encode_terms(np.array([3, 5]))
    assert terms.count.dtype == np.int64
    assert terms.positions.dtype == np.int8 and terms.signs.dtype == np.int8
    for table in significand_tables("naf"):
        assert table.dtype == np.int64 and table.shape == (128, 10)


def test_padding_is_minus_one_positions_and_zero_signs() -> None:
    # 1 has one term, 7 = 2**3 - 2**0 has two: 1's second slot is padding
    terms = encode_terms(np.array([1, 7]))
    assert terms.positions.tolist() == [[0, -1], [3, 0]]
    assert terms.signs.tolist() == [[1, 0], [1, -1]]
    assert terms.reconstruct().dtype == np.int64


def test_reconstruct_sums_over_the_last_axis_of_any_shape() -> None:
    values = np.array([[[1, 7, 255], [0, 170, 3]]])  # (1, 2, 3)
    terms = encode_terms(values, "booth4")
    assert terms.count.shape == (1, 2, 3)
    np.testing.assert_array_equal(terms.reconstruct(), values)


def test_empty_input_gives_empty_arrays_with_no_slots() -> None:
    terms = encode_terms(np.array([], dtype=np.int64))
    assert terms.count.shape == (0,)
    assert terms.positions.shape == (0, 0) and terms.signs.shape == (0, 0)


def test_the_largest_encodable_value_is_accepted_and_one_more_is_not() -> None:
    # MAX_ENCODABLE = 2**61 - 1: NAF 2**61 - 2**0
    plus, minus = term_masks(np.array([MAX_ENCODABLE]))
    assert (int(plus[0]), int(minus[0])) == (2**61, 1)
    with pytest.raises(NumericsError, match=r"\[0, 2\*\*61 - 1\]"):
        term_masks(np.array([MAX_ENCODABLE + 1]))
    with pytest.raises(NumericsError, match="must lie in"):
        term_masks(np.array([-1]))
