"""Term encodings: a non-negative integer as a list of signed powers of two ("terms").

A term-serial PE feeds one operand's significand as terms, most significant first, and spends one
cycle per non-zero term. Three recodings are offered (docs/design.md §4):

- ``"naf"`` (default) — non-adjacent form: digits in {-1, 0, +1}, no two adjacent non-zero. An
  8-bit significand (128..255) has at most 5 terms at positions 0..8 (255 = 2**8 - 2**0).
- ``"binary"`` — the set bits themselves: positions 0..7, up to 8 terms.
- ``"booth4"`` — radix-4 Booth: digits d_j in {-2, -1, 0, 1, 2} of weight 4**j. A digit ±1 is a
  term at position 2j, a digit ±2 a term at position 2j+1 (still one power of two): at most 5
  terms at positions 0..8.

Two implementations: `reference_terms` is the textbook digit-by-digit algorithm on one Python
int (the oracle uses it); `term_masks` is a vectorized bit-trick version on numpy arrays (the
fast model's tables and the integer-mode counts use it). Tests check them equal exhaustively.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from thrifty.errors import NumericsError

Encoding = Literal["naf", "binary", "booth4"]
ENCODINGS: tuple[str, ...] = ("naf", "binary", "booth4")

#: Highest term position any encoding produces for a bfloat16 significand (NAF/Booth: 2**8).
SIGNIFICAND_TOP_POSITION = 8
#: Number of term positions of a bfloat16 significand (0..8).
SIGNIFICAND_POSITIONS = SIGNIFICAND_TOP_POSITION + 1
#: Largest integer magnitude the vectorized encoders accept (3x must fit in 64 bits).
MAX_ENCODABLE = (1 << 61) - 1

_EVEN_BITS = np.uint64(0x5555555555555555)


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise NumericsError(f"term encoding {encoding!r} is unknown; use one of {list(ENCODINGS)}")


def reference_terms(value: int, encoding: Encoding = "naf") -> list[tuple[int, int]]:
    """Terms (position, sign) of a non-negative int, most significant first (scalar, textbook)."""
    _check_encoding(encoding)
    if value < 0:
        raise NumericsError(f"cannot encode {value}: terms encode magnitudes (>= 0)")
    digits: list[tuple[int, int]] = []
    if encoding == "binary":
        digits = [(k, 1) for k in range(value.bit_length()) if (value >> k) & 1]
    elif encoding == "naf":
        n, k = value, 0
        while n:
            if n & 1:
                d = 2 - (n & 3)  # +1 if n = 1 (mod 4), -1 if n = 3 (mod 4)
                digits.append((k, d))
                n -= d
            n >>= 1
            k += 1
    else:  # booth4: d_j = -2 b(2j+1) + b(2j) + b(2j-1), b(-1) = 0
        j = 0
        while (value >> max(2 * j - 1, 0)) != 0:
            b_hi = (value >> (2 * j + 1)) & 1
            b_mid = (value >> (2 * j)) & 1
            b_lo = (value >> (2 * j - 1)) & 1 if j > 0 else 0
            d = -2 * b_hi + b_mid + b_lo
            if d:
                position = 2 * j + (1 if abs(d) == 2 else 0)
                digits.append((position, 1 if d > 0 else -1))
            j += 1
    return sorted(digits, reverse=True)


def term_masks(values: np.ndarray, encoding: Encoding = "naf") -> tuple[np.ndarray, np.ndarray]:
    """Bit masks (plus, minus) of the terms of non-negative integers: value = plus - minus.

    Bit k of `plus` is a term +2**k, bit k of `minus` a term -2**k. Vectorized bit tricks:
    NAF from 3x (plus = (3x & ~x) >> 1, minus = (x & ~3x) >> 1); Booth by comparing each
    even bit with its neighbours.
    """
    _check_encoding(encoding)
    v = np.asarray(values)
    if v.size and (int(v.min()) < 0 or int(v.max()) > MAX_ENCODABLE):
        raise NumericsError(
            f"values to encode must lie in [0, 2**61 - 1]; got range [{int(v.min())}, "
            f"{int(v.max())}]: pass magnitudes"
        )
    x = v.astype(np.uint64)
    one = np.uint64(1)
    if encoding == "binary":
        return x, np.zeros_like(x)
    if encoding == "naf":
        x3 = x * np.uint64(3)
        return (x3 & ~x) >> one, (x & ~x3) >> one
    hi, mid, lo = x >> one, x, x << one  # bit 2j of each: b(2j+1), b(2j), b(2j-1)
    differ = (mid ^ lo) & _EVEN_BITS
    plus = (~hi & differ) | ((~hi & mid & lo & _EVEN_BITS) << one)
    minus = (hi & differ) | ((hi & ~mid & ~lo & _EVEN_BITS) << one)
    return plus, minus


def term_count(values: np.ndarray, encoding: Encoding = "naf") -> np.ndarray:
    """Number of non-zero terms of each non-negative integer (int64 array, same shape)."""
    plus, minus = term_masks(values, encoding)
    return np.bitwise_count(plus | minus).astype(np.int64)


@dataclass(frozen=True)
class Terms:
    """Terms of each value, most significant first.

    `count[...]` is the number of terms; `positions[..., t]` the power of two of term t (-1 as
    padding after the last term) and `signs[..., t]` its sign (+1/-1, 0 as padding).
    """

    count: np.ndarray
    positions: np.ndarray
    signs: np.ndarray

    def reconstruct(self) -> np.ndarray:
        """Sum of the signed terms: equals the encoded values (int64)."""
        shifts = np.maximum(self.positions, 0).astype(np.int64)
        weights = np.where(self.signs != 0, np.left_shift(np.int64(1), shifts), 0)
        return (self.signs.astype(np.int64) * weights).sum(axis=-1)


def encode_terms(values: np.ndarray, encoding: Encoding = "naf", max_position: int = 62) -> Terms:
    """Terms of non-negative integers as padded (count, positions, signs) arrays.

    The trailing axis has as many slots as the largest count in `values`. `max_position` bounds
    the positions looked at (64-bit masks): 8 suffices for bfloat16 significands.
    """
    plus, minus = term_masks(values, encoding)
    shape = plus.shape
    count = np.bitwise_count(plus | minus).astype(np.int64)
    slots = int(count.max()) if count.size else 0
    positions = np.full((*shape, slots), -1, dtype=np.int8)
    signs = np.zeros((*shape, slots), dtype=np.int8)
    filled = np.zeros(shape, dtype=np.int64)
    for k in range(max_position, -1, -1):
        bit = np.uint64(1) << np.uint64(k)
        for mask, sign in ((plus, 1), (minus, -1)):
            has = (mask & bit) != 0
            if has.any():
                idx = np.nonzero(has)
                positions[(*idx, filled[idx])] = k
                signs[(*idx, filled[idx])] = sign
                filled[idx] += 1
    return Terms(count=count, positions=positions, signs=signs)


def significand_tables(encoding: Encoding = "naf") -> tuple[np.ndarray, np.ndarray]:
    """Tables over the 128 normal bfloat16 fractions (significand m = 128 + fraction).

    Returns `(count_from, value_from)`, each of shape (128, 10): `count_from[f, j]` is the number
    of terms of m at positions >= j and `value_from[f, j]` their signed sum divided by 2**j (an
    exact integer). The fast PE model reads both: the terms that survive the out-of-bounds cut are
    exactly those at positions >= some j.
    """
    m = np.arange(128, 256, dtype=np.int64)
    plus, minus = term_masks(m, encoding)
    plus, minus = plus.astype(np.int64), minus.astype(np.int64)
    count_from = np.zeros((128, SIGNIFICAND_POSITIONS + 1), dtype=np.int64)
    value_from = np.zeros((128, SIGNIFICAND_POSITIONS + 1), dtype=np.int64)
    for j in range(SIGNIFICAND_POSITIONS + 1):
        keep = ~((1 << j) - 1)
        p, n = plus & keep, minus & keep
        count_from[:, j] = np.bitwise_count(p | n)
        value_from[:, j] = (p - n) >> j
    return count_from, value_from
