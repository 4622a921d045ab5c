"""One-pass CPU kernels (numba) that count the terms of quantized values at two levels.

The `terms` criterion (`thrifty.quant.term_counts`) needs, for every bitlength group, the term
counts of the values quantized at b = floor(n) and at b + 1. These kernels read x once and
return per-group histograms of the term counts (how many values have 0, 1, 2, ... terms) at
both levels, or only their sums when no histogram is needed (a vectorisable reduction).

The integer codes repeat the float32 arithmetic of `_kernels._level_gap` (hence of
`functional.int_quantize`) and, when `centred`, centre them on the zero point z = rint(−lo/Δ)
clipped to the codes (asymmetric kind; z = 0 for a range starting at 0, e.g. after a ReLU);
the symmetric codes are signed already. A float_mantissa value is rounded on its bit pattern
exactly as `functional.mantissa_quantize`; its significand with the hidden bit,
m = 2^k + fraction, is the encoded integer; zeros and subnormals have no terms (the PE
flushes subnormals).

Encodings (`thrifty.numerics.terms`): 0 = NAF (non-zero digits = popcount((3x ^ x) >> 1)),
1 = plain binary (popcount(x)), 2 = radix-4 Booth (the bit tricks of `term_masks`).

Layout: x is flat, seen as (A, P, B) rows of B values; row r belongs to group r % P (see
`_kernels`). Single-threaded, like `_kernels`, for the same reason.
"""

from __future__ import annotations

import numba
import numpy as np

#: Histogram bins: term counts 0..BINS-1 (a 24-bit significand has at most 24 binary terms).
BINS = 32

ENCODING_CODES = {"naf": 0, "binary": 1, "booth4": 2}

_EVEN = np.uint32(0x55555555)


@numba.njit(cache=True, nogil=True, inline="always")
def _popcount(v):  # pragma: no cover
    """Set bits of a value below 2^32, in uint32 arithmetic (SWAR): numba may widen the
    operations to 64 bits, so the last step masks the byte sum instead of relying on a
    32-bit wrap-around."""
    v = np.uint32(v)
    v = v - ((v >> np.uint32(1)) & np.uint32(0x55555555))
    v = (v & np.uint32(0x33333333)) + ((v >> np.uint32(2)) & np.uint32(0x33333333))
    v = (v + (v >> np.uint32(4))) & np.uint32(0x0F0F0F0F)
    return np.uint32(((v * np.uint32(0x01010101)) >> np.uint32(24)) & np.uint32(0xFF))


@numba.njit(cache=True, nogil=True, inline="always")
def _terms(magnitude, encoding):  # pragma: no cover
    """Number of non-zero terms of a non-negative integer below 2^29 (uint32) in the given
    encoding (32-bit arithmetic vectorises where 64-bit conversions would not; 3x < 2^31)."""
    one = np.uint32(1)
    if encoding == 0:
        return _popcount(((magnitude * np.uint32(3)) ^ magnitude) >> one)
    if encoding == 1:
        return _popcount(magnitude)
    hi, mid, lo = magnitude >> one, magnitude, magnitude << one
    differ = (mid ^ lo) & _EVEN
    plus = (~hi & differ) | ((~hi & mid & lo & _EVEN) << one)
    minus = (hi & differ) | ((hi & ~mid & ~lo & _EVEN) << one)
    return _popcount(plus | minus)


@numba.njit(cache=True, nogil=True)
def _int_params(level_bits, low, high, symmetric, centred):  # pragma: no cover
    """(step, limit, zero point) of one integer level, in float32 as `_kernels` computes them;
    the zero point is 0 unless `centred` (asymmetric kind)."""
    if symmetric:
        levels = np.float32((1 << (level_bits - 1)) - 1)
        step = max(abs(low), abs(high)) / levels
        return (step if step > 0 else np.float32(1.0)), levels, np.float32(0.0)
    levels = np.float32((1 << level_bits) - 1)
    step = (high - low) / levels
    step = step if step > 0 else np.float32(1.0)
    zero = max(min(np.rint(-low / step), levels), np.float32(0.0)) if centred else np.float32(0.0)
    return step, levels, zero


#: Values per segment: magnitudes are formed in a buffer of this size, then counted; a
#: segment's sum of counts (at most 24 per value) fits in uint32.
SEGMENT = 1 << 15


@numba.njit(cache=True, nogil=True, inline="always")
def _int_magnitude(v, offset, step, limit, zero, symmetric, clamp):  # pragma: no cover
    """|integer code − zero point| of one value at one level."""
    if symmetric:
        code = np.rint(v / step)
        if clamp:
            code = max(min(code, limit), -limit)
    else:
        code = np.rint((v - offset) / step)
        if clamp:
            code = max(min(code, limit), np.float32(0.0))
        code = code - zero
    return np.uint32(abs(np.int32(code)))


@numba.njit(cache=True, nogil=True)
def _accumulate(magnitudes, encoding, histogram, out):  # pragma: no cover
    """Add the term counts of `magnitudes` to `out` (a histogram row, or out[0] their sum).

    The encoding is tested outside the loops, so that each sum loop is vectorised."""
    if histogram:
        for i in range(magnitudes.size):
            out[min(np.int64(_terms(magnitudes[i], encoding)), out.size - 1)] += 1  # in bounds
        return
    total = np.uint32(0)
    if encoding == 0:
        for i in range(magnitudes.size):
            total += _terms(magnitudes[i], 0)
    elif encoding == 1:
        for i in range(magnitudes.size):
            total += _terms(magnitudes[i], 1)
    else:
        for i in range(magnitudes.size):
            total += _terms(magnitudes[i], 2)
    out[0] += np.int64(total)


@numba.njit(cache=True, nogil=True)
def int_terms(
    x, rows, bits, lo, hi, symmetric, clamp, centred, encoding, histogram, low, high
):  # pragma: no cover
    """Per group p: the term counts at b = floor(n_p) and b + 1, summed (low/high of shape
    (P, 1)) or as histograms (shape (P, BINS)), int64."""
    p_size = bits.size
    b_size = x.size // rows
    low[:] = 0
    high[:] = 0
    m0 = np.empty(SEGMENT, np.uint32)
    m1 = np.empty(SEGMENT, np.uint32)
    pieces = (b_size + SEGMENT - 1) // SEGMENT
    for segment in range(rows * pieces):
        row = segment // pieces
        p = row % p_size
        start = row * b_size + (segment % pieces) * SEGMENT
        end = min(start + SEGMENT, (row + 1) * b_size)
        level = int(np.floor(bits[p]))
        s0, l0, z0 = _int_params(level, lo[p], hi[p], symmetric, centred)
        s1, l1, z1 = _int_params(level + 1, lo[p], hi[p], symmetric, centred)
        offset = lo[p]
        values = x[start:end]  # indexed from 0: vectorised (see _kernels.fused_int)
        size = values.size
        for i in range(size):
            m0[i] = _int_magnitude(values[i], offset, s0, l0, z0, symmetric, clamp)
            m1[i] = _int_magnitude(values[i], offset, s1, l1, z1, symmetric, clamp)
        _accumulate(m0[:size], encoding, histogram, low[p])
        _accumulate(m1[:size], encoding, histogram, high[p])


@numba.njit(cache=True, nogil=True, inline="always")
def _significand(pattern, k):  # pragma: no cover
    """The significand (hidden bit included) of a float32 pattern rounded to k fraction bits,
    round-to-nearest-even as `functional.mantissa_quantize`; 0 for zeros and subnormals."""
    drop = 23 - k
    if drop > 0:
        half_minus_one = (np.int32(1) << np.int32(drop - 1)) - np.int32(1)
        lowest_kept = (pattern >> np.int32(drop)) & np.int32(1)
        pattern = (pattern + half_minus_one + lowest_kept) & -(np.int32(1) << np.int32(drop))
    exponent = (pattern >> np.int32(23)) & np.int32(0xFF)
    if exponent == 0 or exponent == 0xFF:
        return np.uint32(0)  # zero, subnormal (flushed), or a carry past the largest finite
    fraction = (pattern & np.int32(0x7FFFFF)) >> np.int32(drop)
    return np.uint32(fraction | (np.int32(1) << np.int32(k)))


@numba.njit(cache=True, nogil=True)
def mantissa_terms(patterns, rows, bits, encoding, histogram, low, high):  # pragma: no cover
    """As `int_terms`, for float_mantissa: `patterns` is x viewed as int32."""
    p_size = bits.size
    b_size = patterns.size // rows
    low[:] = 0
    high[:] = 0
    m0 = np.empty(SEGMENT, np.uint32)
    m1 = np.empty(SEGMENT, np.uint32)
    pieces = (b_size + SEGMENT - 1) // SEGMENT
    for segment in range(rows * pieces):
        row = segment // pieces
        p = row % p_size
        start = row * b_size + (segment % pieces) * SEGMENT
        end = min(start + SEGMENT, (row + 1) * b_size)
        k = int(np.floor(bits[p]))
        values = patterns[start:end]
        size = values.size
        for i in range(size):
            m0[i] = _significand(values[i], k)
            m1[i] = _significand(values[i], k + 1)
        _accumulate(m0[:size], encoding, histogram, low[p])
        _accumulate(m1[:size], encoding, histogram, high[p])
