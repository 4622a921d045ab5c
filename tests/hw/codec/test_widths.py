"""Codec sizes worked by hand: the width header at k vs k + 1 bits, and every option's effect.

Sizes follow docs/codec.md's table: a group of L values with n coded ones costs L bitmap bits
(when on) + header (exponent delta: 8 + 4; value delta: 15 + 4; none: 0) + per coded value
1 + w + 7 (exponent delta), 1 + w (value delta) or 16 (none), w = bit length of (max - base).
"""

from __future__ import annotations

import pytest
import torch

from thrifty.hw.codec import CodecConfig, decode, encode, encoded_size_bits


def _bf16(patterns: list[int]) -> torch.Tensor:
    return torch.tensor(patterns, dtype=torch.int32).to(torch.int16).view(torch.bfloat16)


def _size(x: torch.Tensor, **options) -> int:
    config = CodecConfig(**options)
    encoded = encode(x, config)
    assert torch.equal(decode(encoded).view(torch.int16), x.view(torch.int16))  # lossless
    assert encoded_size_bits(x, config) == encoded.nbits  # the sizing path agrees
    assert len(encoded.data) == (encoded.nbits + 7) // 8
    return encoded.nbits


@pytest.mark.parametrize("k", range(1, 9))
def test_exponent_width_needs_k_bits_at_2_to_k_minus_1_and_k_plus_1_at_2_to_k(k: int) -> None:
    # Two values, fraction 0x55, exponents e and e + d: w = bit length of d.
    # d = 2**k - 1 -> w = k; d = 2**k -> w = k + 1. k = 8: exponents 0 and 255 (a subnormal
    # and a NaN pattern: the codec codes raw fields), and no k + 1 case past the 8-bit field.
    def pair(d: int) -> torch.Tensor:
        e = 0 if d == 255 else 1
        return _bf16([(e << 7) | 0x55, ((e + d) << 7) | 0x55])

    # bitmap 2 + header 8 + 4 + two values of 1 + w + 7
    assert _size(pair(2**k - 1)) == 2 + 12 + 2 * (1 + k + 7)
    if k < 8:
        assert _size(pair(2**k)) == 2 + 12 + 2 * (1 + (k + 1) + 7)


@pytest.mark.parametrize("k", [1, 5, 9, 14])
def test_value_width_needs_k_bits_at_2_to_k_minus_1_and_k_plus_1_at_2_to_k(k: int) -> None:
    # magnitudes m and m + d (bits 14..0), sign bit set on the second to show it is raw
    base = 0x0100
    for d, w in ((2**k - 1, k), (2**k, k + 1)):
        x = _bf16([base, 0x8000 | (base + d)])
        # bitmap 2 + header 15 + 4 + two values of 1 + w
        assert _size(x, mode="value_delta") == 2 + 19 + 2 * (1 + w)


def test_equal_exponents_take_a_zero_width() -> None:
    # 1.0, 1.5, -1.75: exponent 127 for all: w = 0 -> 3 + 12 + 3 * 8 = 39
    assert _size(torch.tensor([1.0, 1.5, -1.75]).bfloat16()) == 3 + 12 + 3 * (1 + 0 + 7)


ROW = torch.tensor([1.0, 0.0, -8.0, 0.0]).bfloat16()  # 0x3F80, 0x0000, 0xC100, 0x0000


@pytest.mark.parametrize(
    ("options", "bits"),
    [
        # one group of 4: bitmap 4; coded 1.0 (exp 127) and -8.0 (exp 130): w = 2
        ({"group": 4}, 4 + 12 + 2 * (1 + 2 + 7)),
        # without the bitmap the zeros are coded: exponents 0 .. 130, w = 8
        ({"group": 4, "zero_bitmap": False}, 12 + 4 * (1 + 8 + 7)),
        # groups of 2: [1.0, 0] and [-8.0, 0]: each 2 + 12 + (1 + 0 + 7)
        ({"group": 2}, 2 * (2 + 12 + 8)),
        # value delta: magnitudes 0x3F80 and 0x4100 differ by 384: w = 9
        ({"group": 4, "mode": "value_delta"}, 4 + 19 + 2 * (1 + 9)),
        ({"group": 4, "mode": "none"}, 4 + 2 * 16),
        ({"group": 4, "mode": "none", "zero_bitmap": False}, 4 * 16),
        # group 1: four groups of one value; zeros cost their bitmap bit only
        ({"group": 1}, 2 * (1 + 12 + 8) + 2 * 1),
    ],
)
def test_each_option_changes_the_size_as_documented(options: dict, bits: int) -> None:
    assert _size(ROW, **options) == bits


def test_negative_zero_is_coded_not_a_bitmap_zero() -> None:
    # -0.0 (0x8000) is coded: exponent 0 and 1.0's 127 -> w = 7: 2 + 12 + 2 * (1 + 7 + 7)
    x = _bf16([0x8000, 0x3F80])
    assert _size(x) == 2 + 12 + 2 * (1 + 7 + 7)
    assert _size(_bf16([0x0000, 0x3F80])) == 2 + 12 + 1 * (1 + 0 + 7)
