"""One-pass CPU kernels (numba) for the integer quantizers of `functional.py`.

Eager PyTorch needs about a dozen passes over a tensor to form Q(x, b), Q(x, b+1), their
difference and the interpolation; `fused_int` reads x once and writes the output,
and `grad_recompute` reads x and the output gradient once to sum the bitlength's
gradient. They repeat the arithmetic of `functional.int_quantize` operation by operation in
float32 (no fused multiply-add: numba does not contract without fastmath; `np.rint` rounds half
to even like `torch.round`), so integer bitlengths give results identical to the PyTorch path.

Layout: x is flat, seen as (A, P, B) rows of B contiguous values; row r uses the bitlength and
range number r % P (e.g. (1, O, R) for a per-channel weight, (N, C, H·W) for a per-channel
input). Inner loops run over slices indexed from 0, which LLVM vectorises (see `fused_int`).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic


@numba.njit(cache=True, nogil=True)
def _step_and_limit(level_bits, low, high, symmetric):  # pragma: no cover
    """(step, number of levels above zero) exactly as `functional._int_levels` and `int_quantize`
    compute them in float32: 2^b − 1 (or 2^(b−1) − 1) is exact, then one IEEE division."""
    if symmetric:
        levels = np.float32((1 << (level_bits - 1)) - 1)
        step = max(abs(low), abs(high)) / levels
    else:
        levels = np.float32((1 << level_bits) - 1)
        step = (high - low) / levels
    return (step if step > 0 else np.float32(1.0)), levels


# The flat tensor is cut into segments: each row of B values into pieces of at most SEGMENT
# values. In the backward each segment sums its own products (float64, in a fixed order) and
# the segment sums are added per bitlength in segment order, so the result depends only on
# the shape. The per-value arithmetic is that of `functional.int_quantize`, operation by
# operation.
#
# The backward recomputes Q(x, b+1) − Q(x, b) from x instead of reading a difference tensor
# stored by the forward: it saves writing and allocating a tensor the size of x in every
# forward (x itself is kept alive by autograd anyway: the layer before saves it).
#
# Each kernel has a `_parallel` twin that spreads the segments over numba's threads; the
# results are the same (values are independent, and the backward's segment sums are added in
# segment order either way). `functional.py` calls the twin for large tensors with as many
# threads as torch uses. They run on torch's own OpenMP thread pool: numba's OpenMP layer loads
# the system's libgomp too, but its calls bind to the copy the torch wheel loaded first, for the
# whole process (seen with LD_DEBUG=bindings: GOMP_parallel and omp_set_num_threads of numba's
# omppool resolve to torch/lib/libgomp.so.1), which is also why numba.set_num_threads changes
# torch's count (`thrifty._process_state`).

SEGMENT = 1 << 15
"""Values per segment (32 Ki floats: 128 KiB, fits the L2 cache)."""

CHUNK = 2048
"""Values whose level gaps the backward holds at a time (8 KiB: an allocation from the heap,
not a fresh mapping of memory from the system for every segment)."""


@numba.njit(cache=True, nogil=True, inline="always")
def _pieces(b_size):  # pragma: no cover
    """Segments per row of `b_size` values."""
    return (b_size + SEGMENT - 1) // SEGMENT


@numba.njit(cache=True, nogil=True, inline="always")
def _segment_bounds(segment, pieces, b_size, p_size):  # pragma: no cover
    """(start, end, bitlength index) of a segment: row `segment // pieces`, piece
    `segment % pieces`; row r uses bitlength r % P."""
    row = segment // pieces
    start = row * b_size + (segment % pieces) * SEGMENT
    end = min(start + SEGMENT, (row + 1) * b_size)
    return start, end, row % p_size


@numba.njit(cache=True, nogil=True, inline="always")
def _single_segment(  # pragma: no cover
    x, out, segment, pieces, b_size, bits, lo, hi, symmetric, clamp
):
    """Q(x, b) over one segment (see `_segment_bounds`)."""
    start, end, p = _segment_bounds(segment, pieces, b_size, bits.size)
    offset = lo[p]
    s0, l0 = _step_and_limit(int(bits[p]), offset, hi[p], symmetric)
    values, result = x[start:end], out[start:end]  # indexed from 0: see fused_int
    zero = np.float32(0.0)
    if symmetric:
        for i in range(values.size):
            c0 = np.rint(values[i] / s0)
            if clamp:
                c0 = max(min(c0, l0), -l0)
            result[i] = c0 * s0
    else:
        for i in range(values.size):
            c0 = np.rint((values[i] - offset) / s0)
            if clamp:
                c0 = max(min(c0, l0), zero)
            result[i] = c0 * s0 + offset


@numba.njit(cache=True, nogil=True)
def single_int(x, rows, bits, lo, hi, symmetric, clamp, out):  # pragma: no cover
    """out = Q(x, b) only, for integer bitlengths that need no gradient."""
    b_size = x.size // rows
    pieces = _pieces(b_size)
    for segment in range(rows * pieces):
        _single_segment(x, out, segment, pieces, b_size, bits, lo, hi, symmetric, clamp)


@numba.njit(cache=True, nogil=True, parallel=True)
def single_int_parallel(x, rows, bits, lo, hi, symmetric, clamp, out):  # pragma: no cover
    """`single_int` with its segments spread over numba's threads."""
    b_size = x.size // rows
    pieces = _pieces(b_size)
    for segment in numba.prange(rows * pieces):
        _single_segment(x, out, segment, pieces, b_size, bits, lo, hi, symmetric, clamp)


@numba.njit(cache=True, nogil=True)
def level_table(bits, lo, hi, symmetric):  # pragma: no cover
    """Per bitlength: α, step and limit of level b = floor(n) and of level b + 1."""
    p_size = bits.size
    alpha = np.empty(p_size, np.float32)
    s0 = np.empty(p_size, np.float32)
    l0 = np.empty(p_size, np.float32)
    s1 = np.empty(p_size, np.float32)
    l1 = np.empty(p_size, np.float32)
    for p in range(p_size):
        level = np.floor(bits[p])
        alpha[p] = bits[p] - level
        s0[p], l0[p] = _step_and_limit(int(level), lo[p], hi[p], symmetric)
        s1[p], l1[p] = _step_and_limit(int(level) + 1, lo[p], hi[p], symmetric)
    return alpha, s0, l0, s1, l1


@numba.njit(cache=True, nogil=True, inline="always")
def _level_gap(v, offset, s0, l0, s1, l1, symmetric, clamp):  # pragma: no cover
    """(Q(x, b), Q(x, b+1) − Q(x, b)) of one value, exactly as `fused_int` computes them."""
    if symmetric:
        c0 = np.rint(v / s0)
        c1 = np.rint(v / s1)
        if clamp:
            c0 = max(min(c0, l0), -l0)
            c1 = max(min(c1, l1), -l1)
        q0 = c0 * s0
        return q0, c1 * s1 - q0
    w = v - offset
    c0 = np.rint(w / s0)
    c1 = np.rint(w / s1)
    if clamp:
        c0 = max(min(c0, l0), np.float32(0.0))
        c1 = max(min(c1, l1), np.float32(0.0))
    q0 = c0 * s0 + offset
    return q0, (c1 * s1 + offset) - q0


@numba.njit(cache=True, nogil=True, inline="always")
def _fused_segment(  # pragma: no cover
    x, out, segment, pieces, b_size, p_size, table, lo, symmetric, clamp
):
    """Q0 + α·(Q1 − Q0) over one segment."""
    alpha, s0, l0, s1, l1 = table
    start, end, p = _segment_bounds(segment, pieces, b_size, p_size)
    al, offset = alpha[p], lo[p]
    a0, m0, a1, m1 = s0[p], l0[p], s1[p], l1[p]
    # slices indexed from 0: a loop over range(start, end) is not vectorised (negative
    # indices would wrap around), one over range(size) is, ~20× faster
    values, result = x[start:end], out[start:end]
    for i in range(values.size):
        q0, d = _level_gap(values[i], offset, a0, m0, a1, m1, symmetric, clamp)
        result[i] = q0 + al * d


@numba.njit(cache=True, nogil=True)
def fused_int(x, rows, bits, lo, hi, symmetric, clamp, out):  # pragma: no cover
    """out = Q0 + α·(Q1 − Q0), with b = floor(n), α = n − b per bitlength (one pass over x)."""
    b_size = x.size // rows
    pieces = _pieces(b_size)
    table = level_table(bits, lo, hi, symmetric)
    for segment in range(rows * pieces):
        _fused_segment(x, out, segment, pieces, b_size, bits.size, table, lo, symmetric, clamp)


@numba.njit(cache=True, nogil=True, parallel=True)
def fused_int_parallel(x, rows, bits, lo, hi, symmetric, clamp, out):  # pragma: no cover
    """`fused_int` with its segments spread over numba's threads."""
    b_size = x.size // rows
    pieces = _pieces(b_size)
    table = level_table(bits, lo, hi, symmetric)
    for segment in numba.prange(rows * pieces):
        _fused_segment(x, out, segment, pieces, b_size, bits.size, table, lo, symmetric, clamp)


@numba.njit(cache=True, nogil=True, inline="always")
def _gap_sum(grad, x, start, end, offset, a0, m0, a1, m1, symmetric, clamp):  # pragma: no cover
    """Σ grad·(Q(x, b+1) − Q(x, b)) over [start, end) in float64, with four interleaved
    partial sums (value j of the range goes to sum j % 4, the last count % 4 values to the
    first): a fixed order, and a single running sum would be a chain of dependent additions,
    about 4× slower. The gaps are formed CHUNK values at a time (a vectorised loop), then
    summed."""
    gap = np.empty(CHUNK, np.float32)
    c0 = c1 = c2 = c3 = 0.0
    for chunk_start in range(start, end, CHUNK):
        count = min(CHUNK, end - chunk_start)
        values = x[chunk_start : chunk_start + count]  # indexed from 0: see fused_int
        weights = grad[chunk_start : chunk_start + count]
        for i in range(count):
            _, gap[i] = _level_gap(values[i], offset, a0, m0, a1, m1, symmetric, clamp)
        j = 0
        while j + 4 <= count:
            c0 += weights[j] * gap[j]
            c1 += weights[j + 1] * gap[j + 1]
            c2 += weights[j + 2] * gap[j + 2]
            c3 += weights[j + 3] * gap[j + 3]
            j += 4
        while j < count:  # only in the last chunk (CHUNK is a multiple of 4)
            c0 += weights[j] * gap[j]
            j += 1
    return (c0 + c1) + (c2 + c3)


@numba.njit(cache=True, nogil=True, inline="always")
def _grad_segment(  # pragma: no cover
    grad, x, segment, pieces, b_size, p_size, table, lo, symmetric, clamp
):
    """The gap-weighted gradient sum of one segment."""
    _, s0, l0, s1, l1 = table
    start, end, p = _segment_bounds(segment, pieces, b_size, p_size)
    return _gap_sum(grad, x, start, end, lo[p], s0[p], l0[p], s1[p], l1[p], symmetric, clamp)


@numba.njit(cache=True, nogil=True, inline="always")
def _add_segments(sums, pieces, p_size, partial):  # pragma: no cover
    """partial[p] = the segment sums of bitlength p, added in segment order."""
    partial[:] = 0.0
    for segment in range(sums.size):
        partial[(segment // pieces) % p_size] += sums[segment]


@numba.njit(cache=True, nogil=True)
def grad_recompute(  # pragma: no cover
    grad, x, rows, bits, lo, hi, symmetric, clamp, partial
):
    """partial[p] = Σ grad·(Q(x, b+1) − Q(x, b)) over the rows of bitlength p (float64)."""
    b_size = x.size // rows
    pieces = _pieces(b_size)
    table = level_table(bits, lo, hi, symmetric)
    sums = np.empty(rows * pieces, np.float64)
    for segment in range(rows * pieces):
        sums[segment] = _grad_segment(
            grad, x, segment, pieces, b_size, bits.size, table, lo, symmetric, clamp
        )
    _add_segments(sums, pieces, bits.size, partial)


@numba.njit(cache=True, nogil=True, parallel=True)
def grad_recompute_parallel(  # pragma: no cover
    grad, x, rows, bits, lo, hi, symmetric, clamp, partial
):
    """`grad_recompute` with its segments spread over numba's threads (the same sums: each
    segment's own, added in segment order)."""
    b_size = x.size // rows
    pieces = _pieces(b_size)
    table = level_table(bits, lo, hi, symmetric)
    sums = np.empty(rows * pieces, np.float64)
    for segment in numba.prange(rows * pieces):
        sums[segment] = _grad_segment(
            grad, x, segment, pieces, b_size, bits.size, table, lo, symmetric, clamp
        )
    _add_segments(sums, pieces, bits.size, partial)


@numba.njit(cache=True, nogil=True)
def fused_int_gap(x, rows, bits, lo, hi, symmetric, clamp, out, gap):  # pragma: no cover
    """`fused_int`, also writing the level gap Q(x, b+1) − Q(x, b) of every value to `gap`
    (for an input whose bitlength gradient is formed through the layer's product)."""
    b_size = x.size // rows
    pieces = _pieces(b_size)
    alpha, s0, l0, s1, l1 = level_table(bits, lo, hi, symmetric)
    for segment in range(rows * pieces):
        start, end, p = _segment_bounds(segment, pieces, b_size, bits.size)
        al, offset = alpha[p], lo[p]
        a0, m0, a1, m1 = s0[p], l0[p], s1[p], l1[p]
        values, result, gaps = x[start:end], out[start:end], gap[start:end]  # see fused_int
        for i in range(values.size):
            q0, d = _level_gap(values[i], offset, a0, m0, a1, m1, symmetric, clamp)
            result[i] = q0 + al * d
            gaps[i] = d


# ---------------------------------------------------------------------------------------------
# The whole forward of a quantizer module in one call (`one_call.py`): clamp the bitlength,
# take the range of x, check it, update the moving average, quantize. Eager PyTorch spends a
# dozen operator calls on the small tensors around the one pass over x, each costing far more
# inside a training step (cold caches after the layers' large operators) than alone.
#
# The range is reduced on the float32 bit patterns as integers (sortable keys), which LLVM
# vectorises, where a float min/max loop stays scalar without fastmath; min and max are exact
# either way. A value is finite when its magnitude bits are below those of infinity.

_MAGNITUDE = 0x7FFFFFFF
_INFINITY_BITS = 0x7F800000
_KEY_MAX = 0x7FFFFFFF
_KEY_MIN = -0x80000000


@intrinsic
def _fma(typingctx, a, b, c):  # pragma: no cover
    """a·b + c rounded once (LLVM's fma), as PyTorch's lerp computes it on the CPU."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


@numba.njit(cache=True, nogil=True, inline="always")
def _lerp(start, end, weight):  # pragma: no cover
    """torch.lerp(start, end, weight) in float32, bit for bit (ATen's two formulas, fused)."""
    if abs(weight) < 0.5:
        return _fma(weight, end - start, start)
    return _fma(-(end - start), np.float32(1.0) - weight, end)


@numba.njit(cache=True, nogil=True, inline="always")
def _segment_keys(keys, segment, pieces, b_size, p_size, kmin, kmax, mag):  # pragma: no cover
    """Smallest and largest sortable key and largest magnitude of one segment, into slot
    `segment` of kmin, kmax, mag."""
    start, end, _ = _segment_bounds(segment, pieces, b_size, p_size)
    words = keys[start:end]  # indexed from 0: see fused_int
    low, high, largest = _KEY_MAX, _KEY_MIN, 0
    for i in range(words.size):
        word = np.int64(words[i])
        key = word ^ ((word >> 31) & _MAGNITUDE)
        low = min(low, key)
        high = max(high, key)
        largest = max(largest, word & _MAGNITUDE)
    kmin[segment], kmax[segment], mag[segment] = low, high, largest


@intrinsic
def _float32_from_bits(typingctx, word):  # pragma: no cover
    """The float32 whose bit pattern is the low 32 bits of the integer `word`."""
    if not isinstance(word, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        low = builder.trunc(args[0], ir.IntType(32))
        return builder.bitcast(low, ir.FloatType())

    return types.float32(word), codegen


@numba.njit(cache=True, nogil=True, inline="always")
def _key_float(key):  # pragma: no cover
    """The float32 whose sortable key is `key`."""
    return _float32_from_bits(key ^ ((key >> 31) & _MAGNITUDE))


# fmt: off
@numba.njit(cache=True, nogil=True, inline="always")
def _settle_range(  # pragma: no cover
    kmin, kmax, mag, pieces, bits, min_bits, max_bits, update_ema, use_running,
    running_lo, running_hi, tracked, momentum, lo, hi,
):
    # fmt: on
    """After the per-segment reductions: clamp the bitlength, check, update the average, and
    leave in lo, hi the range to quantize with. Returns 1 when the values must be clipped (a
    moving-average range), 0 otherwise, −1 for a NaN bitlength, −2 for a range that is not
    finite (nothing but the bitlength clamp is written then)."""
    p_size = bits.size
    low = np.full(p_size, _KEY_MAX, np.int64)
    high = np.full(p_size, _KEY_MIN, np.int64)
    largest = np.zeros(p_size, np.int64)
    for segment in range(kmin.size):
        p = (segment // pieces) % p_size
        low[p] = min(low[p], kmin[segment])
        high[p] = max(high[p], kmax[segment])
        largest[p] = max(largest[p], mag[segment])
    for p in range(p_size):
        if bits[p] == bits[p]:  # NaN stays NaN, as under torch.clamp_
            bits[p] = min(max(bits[p], min_bits), max_bits)
    for p in range(p_size):
        if bits[p] != bits[p]:
            return -1
    for p in range(p_size):
        if largest[p] >= _INFINITY_BITS:
            return -2
    for p in range(p_size):
        lo[p], hi[p] = _key_float(low[p]), _key_float(high[p])
    if update_ema:
        if tracked[0] == 0:
            running_lo[:] = lo
            running_hi[:] = hi
        else:
            for p in range(p_size):
                running_lo[p] = _lerp(running_lo[p], lo[p], momentum)
                running_hi[p] = _lerp(running_hi[p], hi[p], momentum)
        tracked[0] += 1
    if use_running and tracked[0] > 0:
        lo[:] = running_lo
        hi[:] = running_hi
        return 1
    return 0


@numba.njit(cache=True, nogil=True, inline="always")
def _fused_gap_segment(  # pragma: no cover
    x, out, gap, segment, pieces, b_size, p_size, table, lo, symmetric, clamp
):
    """`_fused_segment`, also writing the level gap."""
    alpha, s0, l0, s1, l1 = table
    start, end, p = _segment_bounds(segment, pieces, b_size, p_size)
    al, offset = alpha[p], lo[p]
    a0, m0, a1, m1 = s0[p], l0[p], s1[p], l1[p]
    values, result, gaps = x[start:end], out[start:end], gap[start:end]  # see fused_int
    for i in range(values.size):
        q0, d = _level_gap(values[i], offset, a0, m0, a1, m1, symmetric, clamp)
        result[i] = q0 + al * d
        gaps[i] = d


@numba.njit(cache=True, nogil=True, inline="always")
def _key_buffers(count):  # pragma: no cover
    """Per segment: smallest key, largest key, largest magnitude (see `_segment_keys`)."""
    return np.empty(count, np.int64), np.empty(count, np.int64), np.empty(count, np.int64)


@numba.njit(cache=True, nogil=True, inline="always")
def _output_segment(  # pragma: no cover
    x, out, gap, segment, pieces, b_size, table, p_size, lo, symmetric, code
):
    """The output of one segment, and its level gap when gap has x's size; `code` from
    `_settle_range` (1: clip to the range)."""
    clamp = code == 1
    if gap.size == x.size:
        _fused_gap_segment(
            x, out, gap, segment, pieces, b_size, p_size, table, lo, symmetric, clamp
        )
    else:
        _fused_segment(x, out, segment, pieces, b_size, p_size, table, lo, symmetric, clamp)


# fmt: off
@numba.njit(cache=True, nogil=True)
def quantizer_step(  # pragma: no cover
    x, keys, rows, bits, min_bits, max_bits, symmetric, update_ema, use_running,
    running_lo, running_hi, tracked, momentum, lo, hi, out, gap,
):
    # fmt: on
    """One quantizer forward (see above): x flat (and `keys`, its int32 view) in `rows` rows
    of bitlength r % P; bits clamped in place; lo, hi receive the range used; out = Q0 + α·(Q1
    − Q0), and gap = Q1 − Q0 when gap has x's size. Returns `_settle_range`'s code."""
    b_size = x.size // rows
    pieces = _pieces(b_size)
    count = rows * pieces
    kmin, kmax, mag = _key_buffers(count)
    for segment in range(count):
        _segment_keys(keys, segment, pieces, b_size, bits.size, kmin, kmax, mag)
    code = _settle_range(
        kmin, kmax, mag, pieces, bits, min_bits, max_bits, update_ema, use_running,
        running_lo, running_hi, tracked, momentum, lo, hi,
    )  # fmt: skip
    if code < 0:
        return code
    table = level_table(bits, lo, hi, symmetric)
    for segment in range(count):
        _output_segment(x, out, gap, segment, pieces, b_size, table, bits.size, lo, symmetric, code)
    return code


# fmt: off
@numba.njit(cache=True, nogil=True, parallel=True)
def quantizer_step_parallel(  # pragma: no cover
    x, keys, rows, bits, min_bits, max_bits, symmetric, update_ema, use_running,
    running_lo, running_hi, tracked, momentum, lo, hi, out, gap,
):
    # fmt: on
    """`quantizer_step` with both passes' segments spread over numba's threads."""
    b_size = x.size // rows
    pieces = _pieces(b_size)
    count = rows * pieces
    kmin, kmax, mag = _key_buffers(count)
    for segment in numba.prange(count):
        _segment_keys(keys, segment, pieces, b_size, bits.size, kmin, kmax, mag)
    code = _settle_range(
        kmin, kmax, mag, pieces, bits, min_bits, max_bits, update_ema, use_running,
        running_lo, running_hi, tracked, momentum, lo, hi,
    )  # fmt: skip
    if code < 0:
        return code
    table = level_table(bits, lo, hi, symmetric)
    for segment in numba.prange(count):
        _output_segment(x, out, gap, segment, pieces, b_size, table, bits.size, lo, symmetric, code)
    return code
