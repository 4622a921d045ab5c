"""The off-chip codec: lossless round trips, the documented bit layout, sizes and errors.

The oracle is `_reference_bitstring`, a plain-Python encoder written from docs/codec.md; the
numba kernels must produce exactly its bits, and decode must invert them bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from thrifty.errors import ConfigError, NumericsError, TraceError
from thrifty.hw.codec import (
    CodecConfig,
    EncodedTensor,
    channel_dim,
    decode,
    encode,
    encoded_size_bits,
)

MODES = ("exponent_delta", "value_delta", "none")
GROUPS = (1, 3, 8, 16, 32, 40, 256)  # 40 and 256: bitmaps longer than one 32-bit chunk

# Bit patterns that stress the layout: ±0, subnormals, the smallest and largest normal
# exponents, the largest finite value, one, and values with long fractions.
SPECIAL_BITS = [
    0x0000,  # +0.0
    0x8000,  # -0.0
    0x0001,  # smallest subnormal
    0x807F,  # largest negative subnormal
    0x0080,  # smallest normal
    0x7F7F,  # largest finite
    0xFF7F,  # most negative finite
    0x3F80,  # 1.0
    0xBF80,  # -1.0
    0x3FFF,
]


def _tensor(bits: np.ndarray) -> torch.Tensor:
    """bfloat16 tensor whose bit patterns are `bits` (uint16)."""
    return torch.from_numpy(np.ascontiguousarray(bits).view(np.int16).copy()).view(torch.bfloat16)


def _bits(x: torch.Tensor) -> np.ndarray:
    return x.contiguous().view(torch.int16).numpy().view(np.uint16)


def _assert_same_bits(y: torch.Tensor, x: torch.Tensor) -> None:
    assert y.dtype == torch.bfloat16
    assert tuple(y.shape) == tuple(x.shape)
    np.testing.assert_array_equal(_bits(y), _bits(x))


def _reference_bitstring(x: torch.Tensor, config: CodecConfig, dim: int) -> str:
    """The payload as a string of '0'/'1', following docs/codec.md field by field."""
    rows = _bits(x.reshape(1) if x.dim() == 0 else x.movedim(dim, -1))
    rows = rows.reshape(-1, rows.shape[-1]) if rows.size else rows.reshape(0, 1)
    out = []
    for row in rows:
        for start in range(0, len(row), config.group):
            values = [int(v) for v in row[start : start + config.group]]
            if config.zero_bitmap:
                out.extend("1" if v != 0 else "0" for v in values)
                values = [v for v in values if v != 0]
            if not values:
                continue
            if config.mode == "none":
                out.extend(format(v, "016b") for v in values)
            elif config.mode == "exponent_delta":
                exponents = [(v >> 7) & 0xFF for v in values]
                base = min(exponents)
                width = (max(exponents) - base).bit_length()
                out.append(format(base, "08b") + format(width, "04b"))
                for v, e in zip(values, exponents, strict=True):
                    delta = format(e - base, f"0{width}b") if width else ""
                    out.append(str(v >> 15) + delta + format(v & 0x7F, "07b"))
            else:
                magnitudes = [v & 0x7FFF for v in values]
                base = min(magnitudes)
                width = (max(magnitudes) - base).bit_length()
                out.append(format(base, "015b") + format(width, "04b"))
                for v, m in zip(values, magnitudes, strict=True):
                    out.append(str(v >> 15) + (format(m - base, f"0{width}b") if width else ""))
    return "".join(out)


def _payload_bitstring(encoded: EncodedTensor) -> str:
    return "".join(format(byte, "08b") for byte in encoded.data)[: encoded.nbits]


# Bit patterns without NaN (exponent 255 with a non-zero fraction) drawn so that zeros,
# special values and clustered exponents are common, not just uniform noise.
_finite_bits = st.one_of(
    st.sampled_from(SPECIAL_BITS),
    st.integers(0, 0xFFFF).filter(lambda b: (b >> 7) & 0xFF != 0xFF),
    st.builds(
        lambda sign, exp, frac: (sign << 15) | (exp << 7) | frac,
        st.integers(0, 1),
        st.integers(120, 130),
        st.integers(0, 127),
    ),
)


@st.composite
def _tensors(draw, max_dims: int = 4) -> torch.Tensor:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=37))
    if np.prod(shape) > 3000:
        shape = shape[:1]
    fill_zero = draw(st.booleans())
    bits = draw(
        hnp.arrays(
            np.uint16,
            shape,
            elements=st.one_of(st.just(0), _finite_bits) if fill_zero else _finite_bits,
        )
    )
    return _tensor(bits)


@given(
    x=_tensors(),
    mode=st.sampled_from(MODES),
    group=st.sampled_from(GROUPS),
    zero_bitmap=st.booleans(),
)
@example(x=torch.zeros(2, 33, 3), mode="exponent_delta", group=16, zero_bitmap=True)
@example(x=torch.zeros(5, 7).to(torch.bfloat16), mode="value_delta", group=32, zero_bitmap=False)
@example(
    x=_tensor(np.array([0x8000] * 17, np.uint16)), mode="exponent_delta", group=8, zero_bitmap=True
)
@example(
    x=_tensor(np.array(SPECIAL_BITS * 4, np.uint16).reshape(2, 20)),
    mode="value_delta",
    group=16,
    zero_bitmap=True,
)
def test_round_trip_is_bit_exact_and_matches_the_documented_layout(
    x: torch.Tensor, mode: str, group: int, zero_bitmap: bool
) -> None:
    x = x.to(torch.bfloat16)
    config = CodecConfig(group=group, mode=mode, zero_bitmap=zero_bitmap)
    encoded = encode(x, config)
    _assert_same_bits(decode(encoded), x)
    expected = _reference_bitstring(x, config, channel_dim(x.shape))
    assert encoded.nbits == len(expected) == encoded_size_bits(x, config)
    assert _payload_bitstring(encoded) == expected
    assert len(encoded.data) == (len(expected) + 7) // 8
    # Padding bits after the last field are zero.
    assert "".join(format(b, "08b") for b in encoded.data)[encoded.nbits :].strip("0") == ""
    assert EncodedTensor.from_bytes(encoded.to_bytes()) == encoded


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("zero_bitmap", [True, False])
@pytest.mark.parametrize("group", [8, 16, 32])
def test_every_bfloat16_bit_pattern_round_trips(mode: str, zero_bitmap: bool, group: int) -> None:
    # All 65,536 patterns, NaN and ±Inf included: the codec works on raw fields, so they are
    # carried losslessly too. Shuffled so groups mix exponents, signs and zeros.
    bits = np.random.default_rng(7).permutation(np.arange(1 << 16, dtype=np.uint16))
    x = _tensor(bits).reshape(64, 32, 32)
    encoded = encode(x, mode=mode, zero_bitmap=zero_bitmap, group=group)
    _assert_same_bits(decode(encoded), x)


@pytest.mark.parametrize("group", [33, 64, 256])
def test_long_groups_round_trip(group: int) -> None:
    bits = np.random.default_rng(group).integers(0, 1 << 16, size=(3, 300, 2), dtype=np.uint16)
    bits[:, ::3] = 0
    x = _tensor(bits)
    for mode in MODES:
        config = CodecConfig(group=group, mode=mode)
        encoded = encode(x, config)
        _assert_same_bits(decode(encoded), x)
        assert _payload_bitstring(encoded) == _reference_bitstring(x, config, 1)


def test_nan_and_infinity_are_carried_bit_exactly() -> None:
    bits = np.array([0x7FC0, 0xFFC1, 0x7F80, 0xFF80, 0x7F81, 0x3F80, 0, 0x8000], np.uint16)
    x = _tensor(bits).reshape(1, 8)
    for mode in MODES:
        _assert_same_bits(decode(encode(x, mode=mode, group=8)), x)


def test_known_sizes_of_simple_tensors() -> None:
    zeros = torch.zeros(4, 32, dtype=torch.bfloat16)
    # Zero bitmap: an all-zero group costs its bitmap only, one bit per value.
    assert encode(zeros).bits_per_value == 1.0
    # Without the bitmap, each group of 16 pays a 12-bit header and 1 + 0 + 7 bits per value.
    assert encode(zeros, zero_bitmap=False).nbits == 8 * (12 + 16 * 8)
    # Value delta without bitmap: 19-bit header and a sign bit per value when all are equal.
    ones = torch.ones(1, 16, dtype=torch.bfloat16)
    assert encode(ones, mode="value_delta", zero_bitmap=False).nbits == 19 + 16
    # 'none' without bitmap is plain bfloat16.
    x = torch.randn(3, 5, 7).to(torch.bfloat16)
    assert encode(x, mode="none", zero_bitmap=False).bits_per_value == 16.0
    # A group of exponents 127 and 130 needs a 2-bit delta: 12 + 2 * (1 + 2 + 7) bits.
    pair = torch.tensor([[1.0, -8.0]], dtype=torch.bfloat16)
    assert encode(pair, group=8).nbits == 2 + 12 + 2 * 10


def test_groups_run_along_the_channel_dimension() -> None:
    # Channel c holds 2**c at every position: along channels the exponents spread, along
    # positions they do not, so grouping along the wrong dimension would cost fewer bits.
    x = (2.0 ** torch.arange(16.0)).reshape(1, 16, 1, 1).expand(2, 16, 4, 4).to(torch.bfloat16)
    along_channels = encode(x, group=16)
    assert along_channels.dim == 1
    along_width = encode(x, group=16, dim=3)
    assert along_width.nbits < along_channels.nbits
    # An explicit dim is the same as moving that dimension to the channel position.
    moved = encode(x.movedim(3, 1).contiguous(), group=16)
    assert moved.nbits == along_width.nbits
    for encoded in (along_channels, along_width):
        _assert_same_bits(decode(encoded), x)
    assert encode(x, dim=-3) == along_channels


def test_channel_dim_rule() -> None:
    shapes = [(), (7,), (4, 3), (8, 16, 5, 5), (64, 1, 28, 28), (16, 1, 3, 3), (4, 1)]
    assert [channel_dim(s) for s in shapes] == [0, 0, 1, 1, 0, 0, 0]
    # A single-channel image is grouped across the batch: one group of 16 per pixel.
    image = torch.ones(16, 1, 2, 2, dtype=torch.bfloat16)
    assert encode(image, group=16).dim == 0
    assert encode(image, group=16, zero_bitmap=False).nbits == 4 * (12 + 16 * 8)


def test_non_contiguous_and_grad_tensors_are_encoded_by_value() -> None:
    base = torch.randn(6, 10, 5, requires_grad=True)
    x = base.to(torch.bfloat16).transpose(0, 2)[::2]
    _assert_same_bits(decode(encode(x)), x.detach())


def test_float32_is_rejected_with_the_explicit_conversion_named() -> None:
    with pytest.raises(
        NumericsError, match=r"bfloat16 tensors only, got torch.float32.*x.to\(torch.bfloat16\)"
    ):
        encode(torch.ones(2, 2))
    with pytest.raises(NumericsError, match="bfloat16 tensors only"):
        encoded_size_bits(torch.ones(2, 2, dtype=torch.float16))
    with pytest.raises(NumericsError, match="encodes torch tensors, got ndarray"):
        encode(np.zeros(3))


def test_bad_settings_are_config_errors() -> None:
    x = torch.ones(2, 3, dtype=torch.bfloat16)
    with pytest.raises(ConfigError, match="dim 2 is out of range for a tensor of shape"):
        encode(x, dim=2)
    with pytest.raises(ConfigError, match="group"):
        encode(x, group=0)
    with pytest.raises(ConfigError, match="mode"):
        encode(x, mode="huffman")
    with pytest.raises(ConfigError, match="unknown key 'lanes'"):
        from thrifty._config import parse_config

        parse_config(CodecConfig, {"lanes": 4}, "codec config")


def test_damaged_containers_are_trace_errors() -> None:
    x = torch.randn(3, 20).to(torch.bfloat16)
    blob = encode(x).to_bytes()
    with pytest.raises(TraceError, match="magic"):
        EncodedTensor.from_bytes(b"XXXX" + blob[4:])
    with pytest.raises(TraceError, match="truncated or has trailing bytes"):
        EncodedTensor.from_bytes(blob[:-1])
    with pytest.raises(TraceError, match="truncated or has trailing bytes"):
        EncodedTensor.from_bytes(blob + b"\0")
    with pytest.raises(TraceError, match="layout version 9"):
        EncodedTensor.from_bytes(blob[:4] + bytes([9]) + blob[5:])
    good = encode(x)
    short = EncodedTensor(good.shape, good.dim, good.config, good.nbits - 8, good.data[:-1])
    with pytest.raises(TraceError, match="corrupted"):
        decode(short)
    longer = EncodedTensor(good.shape, good.dim, good.config, good.nbits + 64, good.data + bytes(8))
    with pytest.raises(TraceError, match="trailing bytes"):
        decode(longer)


def test_empty_and_scalar_tensors() -> None:
    empty = torch.zeros(0, 16, dtype=torch.bfloat16)
    encoded = encode(empty)
    assert (encoded.nbits, encoded.data, encoded.bits_per_value) == (0, b"", 0.0)
    _assert_same_bits(decode(encoded), empty)
    scalar = torch.tensor(-3.5, dtype=torch.bfloat16)
    _assert_same_bits(decode(encode(scalar)), scalar)
