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


@numba.njit(cache=True, nogil=True)
def _step_and_limit(level_bits, low, high, symmetric):  # pragma: no cover
    """(step, number of levels above zero) exactly as `functional._int_levels` and `int_quantize`
    compute them in float32: 2^b − 1 (or 2^(b−1) − 1) is exact, then one IEEE division."""
    if symmetric:
        levels = np.float32((1 << (level_bits - 1)) - 1)
        scale = max(abs(low), abs(high))
        return (scale / levels if scale > 0 else np.float32(1.0)), levels
    levels = np.float32((1 << level_bits) - 1)
    span = high - low
    return (span / levels if span > 0 else np.float32(1.0)), levels


@numba.njit(cache=True, nogil=True)
def single_int(x, rows, bits, lo, hi, symmetric, clamp, out):  # pragma: no cover
    """out = Q(x, b) only, for integer bitlengths that need no gradient."""
    p_size = bits.size
    b_size = x.size // rows
    zero = np.float32(0.0)
    for row in range(rows):
        p = row % p_size
        offset = lo[p]
        s0, l0 = _step_and_limit(int(bits[p]), offset, hi[p], symmetric)
        base = row * b_size
        values, result = x[base : base + b_size], out[base : base + b_size]  # vectorised loops
        if symmetric:
            for i in range(b_size):
                c0 = np.rint(values[i] / s0)
                if clamp:
                    c0 = max(min(c0, l0), -l0)
                result[i] = c0 * s0
        else:
            for i in range(b_size):
                c0 = np.rint((values[i] - offset) / s0)
                if clamp:
                    c0 = max(min(c0, l0), zero)
                result[i] = c0 * s0 + offset


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
# The kernels are single-threaded on purpose: numba's thread pool beside PyTorch's OpenMP
# threads oversubscribes the cores (measured on the 2-core machine with other jobs running:
# the small CNN's quantized step took 1.7 s with 2 numba threads against 1.1 s with one), and
# each pass is now cheap next to the convolution it feeds.

SEGMENT = 1 << 15
"""Values per segment (32 Ki floats: 128 KiB, fits the L2 cache)."""


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


@numba.njit(cache=True, nogil=True)
def fused_int(x, rows, bits, lo, hi, symmetric, clamp, out):  # pragma: no cover
    """out = Q0 + α·(Q1 − Q0), with b = floor(n), α = n − b per bitlength (one pass over x)."""
    p_size = bits.size
    b_size = x.size // rows
    alpha, s0, l0, s1, l1 = level_table(bits, lo, hi, symmetric)
    pieces = (b_size + SEGMENT - 1) // SEGMENT
    for segment in range(rows * pieces):
        row = segment // pieces
        p = row % p_size
        start = row * b_size + (segment % pieces) * SEGMENT
        end = min(start + SEGMENT, (row + 1) * b_size)
        al, offset = alpha[p], lo[p]
        a0, m0, a1, m1 = s0[p], l0[p], s1[p], l1[p]
        # slices indexed from 0: a loop over range(start, end) is not vectorised (negative
        # indices would wrap around), one over range(size) is, ~20× faster
        values, result = x[start:end], out[start:end]
        for i in range(values.size):
            q0, d = _level_gap(values[i], offset, a0, m0, a1, m1, symmetric, clamp)
            result[i] = q0 + al * d


@numba.njit(cache=True, nogil=True)
def _sum4(grad, gap):  # pragma: no cover
    """Σ grad·gap in float64, with four interleaved partial sums (a fixed order: a single
    running sum is a chain of dependent additions, about 4× slower)."""
    a0 = a1 = a2 = a3 = 0.0
    count = gap.size
    j = 0
    while j + 4 <= count:
        a0 += grad[j] * gap[j]
        a1 += grad[j + 1] * gap[j + 1]
        a2 += grad[j + 2] * gap[j + 2]
        a3 += grad[j + 3] * gap[j + 3]
        j += 4
    while j < count:
        a0 += grad[j] * gap[j]
        j += 1
    return (a0 + a1) + (a2 + a3)


@numba.njit(cache=True, nogil=True)
def grad_recompute(  # pragma: no cover
    grad, x, rows, bits, lo, hi, symmetric, clamp, partial
):
    """partial[p] = Σ grad·(Q(x, b+1) − Q(x, b)) over the rows of bitlength p (float64)."""
    p_size = bits.size
    b_size = x.size // rows
    _, s0, l0, s1, l1 = level_table(bits, lo, hi, symmetric)
    pieces = (b_size + SEGMENT - 1) // SEGMENT
    sums = np.zeros(rows * pieces, np.float64)
    for segment in range(rows * pieces):
        row = segment // pieces
        p = row % p_size
        start = row * b_size + (segment % pieces) * SEGMENT
        end = min(start + SEGMENT, (row + 1) * b_size)
        offset = lo[p]
        a0, m0, a1, m1 = s0[p], l0[p], s1[p], l1[p]
        values = x[start:end]  # indexed from 0: see fused_int
        gap = np.empty(values.size, np.float32)  # first the gaps (a vectorised loop) ...
        for i in range(values.size):
            _, gap[i] = _level_gap(values[i], offset, a0, m0, a1, m1, symmetric, clamp)
        sums[segment] = _sum4(grad[start:end], gap)  # ... then their weighted sum
    partial[:] = 0.0
    for segment in range(rows * pieces):
        partial[(segment // pieces) % p_size] += sums[segment]
