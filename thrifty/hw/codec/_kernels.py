"""Numba kernels that size, pack and unpack the codec's bitstream (layout: docs/codec.md).

The input is an (outer, channels, inner) array of bfloat16 bit patterns (uint16): the tensor
itself, viewed around its channel dimension without copying. Positions are the (outer, inner)
pairs in row-major order; at each position the channels are cut into groups of `group` values
(the last group may be shorter). Every group is written
in row order as: [zero bitmap] [header] [fields of each coded value], most significant bit
first. Three kernels share one definition of the layout: `total_bits` (size only), `pack`
(writes bytes) and `unpack` (reads them back).

Speed: the loops are branch-free where the data decides (a zero value writes a field of 0
bits instead of taking a branch), and bits move to and from memory 32 at a time, because
ReLU zeros are random and a mispredicted branch per value would cost more than the work.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: bfloat16 fields: 1 sign bit, 8 exponent bits, 7 fraction bits.
FRACTION_BITS = 7
EXPONENT_BITS = 8
#: Exponent and fraction read together as one unsigned integer ("magnitude").
MAGNITUDE_BITS = EXPONENT_BITS + FRACTION_BITS
#: Bits of a group header's width field: holds a delta width of 0..15 bits.
WIDTH_FIELD_BITS = 4
#: Raw bits of one bfloat16 value.
VALUE_BITS = 16
#: The bitmap of a group is handled in chunks of this many values (one machine word each).
_CHUNK = 32
#: Larger than any exponent or magnitude: the neutral element of the group minimum.
_NO_KEY = 1 << 16

#: Mode codes used inside the kernels and in the container header.
MODE_NONE = 0
MODE_EXPONENT_DELTA = 1
MODE_VALUE_DELTA = 2


@njit(cache=True, inline="always")
def _bit_length(value: int) -> int:
    """Bits needed to write the non-negative `value` (0 for 0)."""
    width = 0
    while value > 0:
        width += 1
        value >>= 1
    return width


@njit(cache=True, inline="always")
def _delta_key(value: int, mode: int) -> int:
    """The field of `value` that is delta-coded: exponent (8 bits) or magnitude (15 bits)."""
    if mode == MODE_EXPONENT_DELTA:
        return (value >> FRACTION_BITS) & 0xFF
    return value & 0x7FFF


@njit(cache=True, inline="always")
def _header_bits(mode: int) -> int:
    """Bits of a group header: base and width (none: no header)."""
    if mode == MODE_EXPONENT_DELTA:
        return EXPONENT_BITS + WIDTH_FIELD_BITS
    if mode == MODE_VALUE_DELTA:
        return MAGNITUDE_BITS + WIDTH_FIELD_BITS
    return 0


@njit(cache=True, inline="always")
def _value_bits(mode: int, width: int) -> int:
    """Bits of one coded value's field."""
    if mode == MODE_EXPONENT_DELTA:
        return 1 + width + FRACTION_BITS
    if mode == MODE_VALUE_DELTA:
        return 1 + width
    return VALUE_BITS


@njit(cache=True, inline="always")
def _scan(bits, o, i, start, stop, mode, zero_bitmap):
    """(bitmap of a chunk, coded values, smallest key, largest key) of values [start, stop)."""
    mask = np.int64(0)
    coded = np.int64(0)
    low = np.int64(_NO_KEY)
    high = np.int64(-1)
    for c in range(start, stop):
        v = np.int64(bits[o, c, i])
        keep = np.int64(1) if (v != 0 or not zero_bitmap) else np.int64(0)
        mask = (mask << 1) | keep
        coded += keep
        key = _delta_key(v, mode)
        low = min(low, key if keep else _NO_KEY)
        high = max(high, key if keep else -1)
    return mask, coded, low, high


@njit(cache=True)
def total_bits(bits: np.ndarray, group: int, mode: int, zero_bitmap: bool) -> int:
    """Encoded size in bits of the whole stream (the sum of every group's size)."""
    outer, channels, inner = bits.shape
    total = 0
    for o in range(outer):
        for i in range(inner):
            for start in range(0, channels, group):
                stop = min(start + group, channels)
                coded = 0
                low = _NO_KEY
                high = -1
                for chunk in range(start, stop, _CHUNK):
                    end = min(chunk + _CHUNK, stop)
                    _, n, lo, hi = _scan(bits, o, i, chunk, end, mode, zero_bitmap)
                    coded += n
                    low = min(low, lo)
                    high = max(high, hi)
                if zero_bitmap:
                    total += stop - start
                if coded > 0:
                    width = _bit_length(high - low) if mode != MODE_NONE else 0
                    total += _header_bits(mode) + coded * _value_bits(mode, width)
    return total


def max_bits(numel: int, groups: int, mode: int, zero_bitmap: bool) -> int:
    """An upper bound of the stream size: every value coded at 16 bits, every header present."""
    return numel * (VALUE_BITS + int(zero_bitmap)) + groups * _HEADER_BITS[mode]


#: Header bits per mode, for `max_bits` (plain Python).
_HEADER_BITS = {
    MODE_NONE: 0,
    MODE_EXPONENT_DELTA: EXPONENT_BITS + WIDTH_FIELD_BITS,
    MODE_VALUE_DELTA: MAGNITUDE_BITS + WIDTH_FIELD_BITS,
}


@njit(cache=True, inline="always")
def _put(out, pos, acc, pending, value, nbits):
    """Append the `nbits` (≤ 32) low bits of `value`; write whole 32-bit words to `out`.

    `acc` holds `pending` (< 32) bits not yet written, the oldest highest.
    """
    acc = (acc << nbits) | value
    pending += nbits
    if pending >= 32:
        pending -= 32
        word = acc >> pending
        out[pos] = (word >> 24) & 0xFF
        out[pos + 1] = (word >> 16) & 0xFF
        out[pos + 2] = (word >> 8) & 0xFF
        out[pos + 3] = word & 0xFF
        pos += 4
        acc &= (np.int64(1) << pending) - 1
    return pos, acc, pending


@njit(cache=True)
def pack(bits: np.ndarray, group: int, mode: int, zero_bitmap: bool, capacity_bits: int):
    """Write the bitstream of `bits` (MSB first); return (bytes buffer, bits written).

    `capacity_bits` must be at least the stream size (`max_bits` is); the buffer holds
    ceil(capacity_bits / 8) bytes, of which the first ceil(bits written / 8) are the stream.
    """
    outer, channels, inner = bits.shape
    out = np.zeros((capacity_bits + 7) // 8 + 8, dtype=np.uint8)
    pos = 0
    acc = np.int64(0)
    pending = np.int64(0)
    for o in range(outer):
        for i in range(inner):
            for start in range(0, channels, group):
                stop = min(start + group, channels)
                coded = 0
                low = _NO_KEY
                high = -1
                for chunk in range(start, stop, _CHUNK):
                    end = min(chunk + _CHUNK, stop)
                    mask, n, lo, hi = _scan(bits, o, i, chunk, end, mode, zero_bitmap)
                    if zero_bitmap:
                        pos, acc, pending = _put(out, pos, acc, pending, mask, end - chunk)
                    coded += n
                    low = min(low, lo)
                    high = max(high, hi)
                if coded == 0:
                    continue
                width = 0
                if mode != MODE_NONE:
                    width = _bit_length(high - low)
                    header = (low << WIDTH_FIELD_BITS) | width
                    pos, acc, pending = _put(out, pos, acc, pending, header, _header_bits(mode))
                need = _value_bits(mode, width)
                for c in range(start, stop):
                    v = np.int64(bits[o, c, i])
                    keep = np.int64(1) if (v != 0 or not zero_bitmap) else np.int64(0)
                    sign = v >> 15
                    if mode == MODE_EXPONENT_DELTA:
                        delta = ((v >> FRACTION_BITS) & 0xFF) - low
                        field = (((sign << width) | delta) << FRACTION_BITS) | (v & 0x7F)
                    elif mode == MODE_VALUE_DELTA:
                        field = (sign << width) | ((v & 0x7FFF) - low)
                    else:
                        field = v
                    # A zero under the bitmap appends a field of 0 bits: no branch on the data.
                    pos, acc, pending = _put(out, pos, acc, pending, field * keep, need * keep)
    written = pos * 8 + pending
    while pending >= 8:
        pending -= 8
        out[pos] = (acc >> pending) & 0xFF
        pos += 1
    if pending > 0:
        out[pos] = (acc << (8 - pending)) & 0xFF
    return out, written


@njit(cache=True, inline="always")
def _take(data, pos, acc, avail, nbits):
    """Next `nbits` (≤ 32) bits as an integer; reads 32-bit words while the data lasts.

    `acc` holds `avail` unread bits, the next one highest. Raises IndexError past the end.
    """
    if avail < nbits:
        if pos + 4 <= data.shape[0]:
            word = (
                (np.int64(data[pos]) << 24)
                | (np.int64(data[pos + 1]) << 16)
                | (np.int64(data[pos + 2]) << 8)
                | np.int64(data[pos + 3])
            )
            acc = (acc << 32) | word
            pos += 4
            avail += 32
        else:
            while avail < nbits:
                if pos >= data.shape[0]:
                    raise IndexError("bitstream truncated")
                acc = (acc << 8) | np.int64(data[pos])
                pos += 1
                avail += 8
    avail -= nbits
    value = acc >> avail
    acc &= (np.int64(1) << avail) - 1
    return value, pos, acc, avail


@njit(cache=True)
def unpack(
    data: np.ndarray,
    outer: int,
    channels: int,
    inner: int,
    group: int,
    mode: int,
    zero_bitmap: bool,
):
    """Read the bitstream written by `pack` back into an (outer, channels, inner) uint16 array.

    Returns the array and the number of bytes holding the stream, so the caller can reject
    trailing bytes; a truncated stream raises IndexError and a field that cannot come from
    `pack` raises ValueError, which the caller turns into a TraceError.
    """
    out = np.zeros((outer, channels, inner), dtype=np.uint16)
    flags = np.ones(group, dtype=np.int64)
    pos = 0
    acc = np.int64(0)
    avail = np.int64(0)
    for o in range(outer):
        for i in range(inner):
            for start in range(0, channels, group):
                stop = min(start + group, channels)
                coded = stop - start
                if zero_bitmap:
                    coded = 0
                    for chunk in range(start, stop, _CHUNK):
                        length = min(chunk + _CHUNK, stop) - chunk
                        mask, pos, acc, avail = _take(data, pos, acc, avail, length)
                        for k in range(length):
                            flag = (mask >> (length - 1 - k)) & 1
                            flags[chunk - start + k] = flag
                            coded += flag
                if coded == 0:
                    continue
                width = 0
                low = 0
                if mode != MODE_NONE:
                    header, pos, acc, avail = _take(data, pos, acc, avail, _header_bits(mode))
                    low = header >> WIDTH_FIELD_BITS
                    width = header & ((1 << WIDTH_FIELD_BITS) - 1)
                    if mode == MODE_EXPONENT_DELTA and width > EXPONENT_BITS:
                        raise ValueError("exponent delta width above 8 bits")
                need = _value_bits(mode, width)
                for k in range(stop - start):
                    keep = flags[k]
                    field, pos, acc, avail = _take(data, pos, acc, avail, need * keep)
                    if mode == MODE_EXPONENT_DELTA:
                        exponent = ((field >> FRACTION_BITS) & ((1 << width) - 1)) + low
                        sign = field >> (FRACTION_BITS + width)
                        value = (sign << 15) | (exponent << FRACTION_BITS) | (field & 0x7F)
                    elif mode == MODE_VALUE_DELTA:
                        value = ((field >> width) << 15) | ((field & ((1 << width) - 1)) + low)
                    else:
                        value = field
                    if value > 0xFFFF:
                        raise ValueError("decoded value outside 16 bits")
                    out[o, start + k, i] = value * keep
    return out, pos - avail // 8
