"""Numba kernels that size, pack and unpack the codec's bitstream (layout: docs/codec.md).

The input is a (positions, channels) array of bfloat16 bit patterns (uint16); each row is cut
into groups of `group` values (the last group of a row may be shorter). Every group is written
in row order as: [zero bitmap] [header] [fields of each coded value], most significant bit
first. Three passes share one definition of the layout: `group_bits` (sizes only),
`pack` (writes bytes) and `unpack` (reads them back).
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


@njit(cache=True)
def group_bits(bits: np.ndarray, group: int, mode: int, zero_bitmap: bool) -> np.ndarray:
    """Encoded size in bits of every group, in stream order (row by row)."""
    positions, channels = bits.shape
    per_row = (channels + group - 1) // group
    sizes = np.zeros(positions * per_row, dtype=np.int64)
    for p in range(positions):
        for j in range(per_row):
            start = j * group
            stop = min(start + group, channels)
            size = 0
            if zero_bitmap:
                size += stop - start
            coded = 0
            low = 1 << 30
            high = -1
            for c in range(start, stop):
                v = np.int64(bits[p, c])
                if zero_bitmap and v == 0:
                    continue
                coded += 1
                key = _delta_key(v, mode)
                low = min(low, key)
                high = max(high, key)
            if coded > 0:
                if mode == MODE_NONE:
                    size += coded * VALUE_BITS
                elif mode == MODE_EXPONENT_DELTA:
                    width = _bit_length(high - low)
                    size += EXPONENT_BITS + WIDTH_FIELD_BITS
                    size += coded * (1 + width + FRACTION_BITS)
                else:
                    width = _bit_length(high - low)
                    size += MAGNITUDE_BITS + WIDTH_FIELD_BITS
                    size += coded * (1 + width)
            sizes[p * per_row + j] = size
    return sizes


@njit(cache=True)
def pack(bits: np.ndarray, group: int, mode: int, zero_bitmap: bool, total_bits: int) -> np.ndarray:
    """Write the bitstream of `bits` (MSB first) into ceil(total_bits / 8) bytes."""
    positions, channels = bits.shape
    per_row = (channels + group - 1) // group
    out = np.zeros((total_bits + 7) // 8, dtype=np.uint8)
    pos = 0
    acc = np.int64(0)  # pending bits, the oldest in the high positions
    pending = 0  # how many bits `acc` holds (always < 8 between fields)
    for p in range(positions):
        for j in range(per_row):
            start = j * group
            stop = min(start + group, channels)
            coded = 0
            low = 1 << 30
            high = -1
            for c in range(start, stop):
                v = np.int64(bits[p, c])
                nonzero = v != 0
                if zero_bitmap:
                    acc = (acc << 1) | (1 if nonzero else 0)
                    pending += 1
                    if pending == 8:
                        out[pos] = acc
                        pos += 1
                        acc = 0
                        pending = 0
                    if not nonzero:
                        continue
                coded += 1
                key = _delta_key(v, mode)
                low = min(low, key)
                high = max(high, key)
            if coded == 0:
                continue
            # Header, then one field per coded value; each write is < 24 bits, so `acc` never
            # holds more than 31 bits before it is flushed byte by byte.
            width = 0
            if mode == MODE_EXPONENT_DELTA:
                width = _bit_length(high - low)
                acc = (
                    (acc << (EXPONENT_BITS + WIDTH_FIELD_BITS)) | (low << WIDTH_FIELD_BITS) | width
                )
                pending += EXPONENT_BITS + WIDTH_FIELD_BITS
            elif mode == MODE_VALUE_DELTA:
                width = _bit_length(high - low)
                acc = (
                    (acc << (MAGNITUDE_BITS + WIDTH_FIELD_BITS)) | (low << WIDTH_FIELD_BITS) | width
                )
                pending += MAGNITUDE_BITS + WIDTH_FIELD_BITS
            while pending >= 8:
                pending -= 8
                out[pos] = (acc >> pending) & 0xFF
                pos += 1
            acc &= (1 << pending) - 1
            for c in range(start, stop):
                v = np.int64(bits[p, c])
                if zero_bitmap and v == 0:
                    continue
                if mode == MODE_NONE:
                    acc = (acc << VALUE_BITS) | v
                    pending += VALUE_BITS
                elif mode == MODE_EXPONENT_DELTA:
                    sign = v >> 15
                    delta = ((v >> FRACTION_BITS) & 0xFF) - low
                    fraction = v & 0x7F
                    field = (((sign << width) | delta) << FRACTION_BITS) | fraction
                    acc = (acc << (1 + width + FRACTION_BITS)) | field
                    pending += 1 + width + FRACTION_BITS
                else:
                    sign = v >> 15
                    delta = (v & 0x7FFF) - low
                    acc = (acc << (1 + width)) | (sign << width) | delta
                    pending += 1 + width
                while pending >= 8:
                    pending -= 8
                    out[pos] = (acc >> pending) & 0xFF
                    pos += 1
                acc &= (1 << pending) - 1
    if pending > 0:
        out[pos] = (acc << (8 - pending)) & 0xFF
    return out


@njit(cache=True)
def unpack(
    data: np.ndarray, positions: int, channels: int, group: int, mode: int, zero_bitmap: bool
) -> np.ndarray:
    """Read the bitstream written by `pack` back into a (positions, channels) uint16 array.

    Returns the array and the number of bytes consumed, so the caller can reject trailing
    bytes; a truncated stream raises IndexError and a field that cannot come from `pack`
    raises ValueError, which the caller turns into a TraceError-style message.
    """
    out = np.zeros((positions, channels), dtype=np.uint16)
    per_row = (channels + group - 1) // group
    flags = np.zeros(group, dtype=np.bool_)
    size = data.shape[0]
    pos = 0
    acc = np.int64(0)  # unread bits, the next one in the high position
    avail = 0
    for p in range(positions):
        for j in range(per_row):
            start = j * group
            stop = min(start + group, channels)
            count = stop - start
            coded = count
            if zero_bitmap:
                coded = 0
                for k in range(count):
                    if avail == 0:
                        if pos >= size:
                            raise IndexError("bitstream truncated")
                        acc = np.int64(data[pos])
                        pos += 1
                        avail = 8
                    avail -= 1
                    flag = ((acc >> avail) & 1) == 1
                    flags[k] = flag
                    if flag:
                        coded += 1
                acc &= (1 << avail) - 1
            else:
                for k in range(count):
                    flags[k] = True
            if coded == 0:
                continue
            width = 0
            low = 0
            if mode != MODE_NONE:
                head = EXPONENT_BITS if mode == MODE_EXPONENT_DELTA else MAGNITUDE_BITS
                need = head + WIDTH_FIELD_BITS
                while avail < need:
                    if pos >= size:
                        raise IndexError("bitstream truncated")
                    acc = (acc << 8) | np.int64(data[pos])
                    pos += 1
                    avail += 8
                avail -= need
                header = acc >> avail
                acc &= (1 << avail) - 1
                low = header >> WIDTH_FIELD_BITS
                width = header & ((1 << WIDTH_FIELD_BITS) - 1)
                if mode == MODE_EXPONENT_DELTA and width > EXPONENT_BITS:
                    raise ValueError("exponent delta width above 8 bits")
            if mode == MODE_NONE:
                need = VALUE_BITS
            elif mode == MODE_EXPONENT_DELTA:
                need = 1 + width + FRACTION_BITS
            else:
                need = 1 + width
            for k in range(count):
                if not flags[k]:
                    continue
                while avail < need:
                    if pos >= size:
                        raise IndexError("bitstream truncated")
                    acc = (acc << 8) | np.int64(data[pos])
                    pos += 1
                    avail += 8
                avail -= need
                field = acc >> avail
                acc &= (1 << avail) - 1
                if mode == MODE_NONE:
                    value = field
                elif mode == MODE_EXPONENT_DELTA:
                    fraction = field & 0x7F
                    exponent = ((field >> FRACTION_BITS) & ((1 << width) - 1)) + low
                    sign = field >> (FRACTION_BITS + width)
                    value = (sign << 15) | (exponent << FRACTION_BITS) | fraction
                else:
                    magnitude = (field & ((1 << width) - 1)) + low
                    sign = field >> width
                    value = (sign << 15) | magnitude
                if value > 0xFFFF:
                    raise ValueError("decoded value outside 16 bits")
                out[p, start + k] = value
    return out, pos
