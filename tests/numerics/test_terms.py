"""Term encodings: exhaustive reconstruction, agreement with the textbook algorithms, bounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from thrifty.errors import NumericsError
from thrifty.numerics import (
    ENCODINGS,
    encode_terms,
    fields,
    reference_terms,
    significand_tables,
    term_count,
    term_masks,
)

MAX_TERMS = {"naf": 5, "binary": 8, "booth4": 5}


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_bfloat16_pattern_reconstructs_its_significand(encoding: str) -> None:
    bits = np.arange(1 << 16, dtype=np.uint16)
    significand = fields(torch.from_numpy(bits.view(np.int16)).view(torch.bfloat16)).significand
    terms = encode_terms(significand, encoding)
    np.testing.assert_array_equal(terms.reconstruct(), significand)
    np.testing.assert_array_equal(terms.count, (terms.signs != 0).sum(axis=-1))
    assert int(terms.positions.max()) <= 8
    normal = significand >= 128
    assert int(terms.count[normal].max()) == MAX_TERMS[encoding]
    # most significant first: positions strictly decrease along each row
    pos = terms.positions.astype(np.int64)
    assert (np.diff(np.where(pos >= 0, pos, -1 - np.arange(pos.shape[-1])), axis=-1) < 0).all()


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_vectorized_equals_textbook_algorithm(encoding: str) -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([np.arange(4096), rng.integers(0, 1 << 40, size=300)])
    terms = encode_terms(values, encoding)
    for i, v in enumerate(values.tolist()):
        expected = reference_terms(v, encoding)
        got = [
            (int(p), int(s)) for p, s in zip(terms.positions[i], terms.signs[i], strict=True) if s
        ]
        assert got == expected, (encoding, v)
    np.testing.assert_array_equal(term_count(values, encoding), terms.count)


def test_encoding_properties() -> None:
    values = np.arange(1 << 14)
    plus, minus = term_masks(values, "naf")
    nonzero = plus | minus
    assert not (nonzero & (nonzero >> np.uint64(1))).any()  # NAF: no two adjacent terms
    assert (plus & minus).sum() == 0
    np.testing.assert_array_equal(term_count(values, "binary"), np.bitwise_count(values))
    # NAF has the fewest terms of any signed-digit form; Booth one per radix-4 digit at most
    naf = term_count(values, "naf")
    assert (naf <= term_count(values, "binary")).all()
    assert (naf <= term_count(values, "booth4")).all()
    assert int(term_count(values, "booth4").max()) == 8  # 15 bits -> 8 radix-4 digits
    assert reference_terms(255, "naf") == [(8, 1), (0, -1)]
    assert reference_terms(255, "booth4") == [(8, 1), (0, -1)]
    assert reference_terms(0b1101100, "booth4") == [(7, 1), (4, -1), (2, -1)]  # 128 - 16 - 4


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_significand_tables_match_the_terms(encoding: str) -> None:
    count_from, value_from = significand_tables(encoding)
    for fraction in range(128):
        terms = reference_terms(128 + fraction, encoding)
        for j in range(10):
            kept = [(p, s) for p, s in terms if p >= j]
            assert count_from[fraction, j] == len(kept)
            assert value_from[fraction, j] << j == sum(s << p for p, s in kept)


def test_bad_inputs() -> None:
    with pytest.raises(NumericsError, match="unknown"):
        term_masks(np.arange(3), "csd")  # type: ignore[arg-type]
    with pytest.raises(NumericsError, match="magnitudes"):
        term_masks(np.array([-1]))
    with pytest.raises(NumericsError, match="magnitudes"):
        reference_terms(-3)
