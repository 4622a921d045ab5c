"""One-pass CPU kernels (numba) for the integer quantizers of `functional.py`.

Eager PyTorch needs about a dozen passes over a tensor to form Q(x, b), Q(x, b+1), their
difference and the interpolation; these kernels read x once and write the output and the
difference (kept for the backward) in the same pass. They repeat the arithmetic of
`functional.int_quantize` operation by operation in float32 (no fused multiply-add: numba does
not contract without fastmath; `np.rint` rounds half to even like `torch.round`), so integer
bitlengths give results identical to the PyTorch path.

Layout: x is flat, seen as (A, P, B) rows of B contiguous values; row r uses the bitlength and
range number r % P (e.g. (1, O, R) for a per-channel weight, (N, C, H·W) for a per-channel
input). The kernels are single-threaded on purpose: a second thread pool beside PyTorch's
OpenMP threads oversubscribes the cores and slows both down, and one pass is already cheap next
to the convolution it feeds.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def fused_int(
    x, rows, p_size, lo, step0, step1, alpha, lim0, lim1, symmetric, clamp, out, diff
):  # pragma: no cover
    """out = Q0 + alpha·(Q1 − Q0), diff = Q1 − Q0, with Qk = code_k·step_k (+ lo)."""
    b_size = x.size // rows
    zero = np.float32(0.0)
    for row in range(rows):
        p = row % p_size
        s0 = step0[p]
        s1 = step1[p]
        al = alpha[p]
        l0 = lim0[p]
        l1 = lim1[p]
        offset = lo[p]
        base = row * b_size
        if symmetric:
            for i in range(base, base + b_size):
                v = x[i]
                c0 = np.rint(v / s0)
                c1 = np.rint(v / s1)
                if clamp:
                    c0 = max(min(c0, l0), -l0)
                    c1 = max(min(c1, l1), -l1)
                q0 = c0 * s0
                d = c1 * s1 - q0
                diff[i] = d
                out[i] = q0 + al * d
        else:
            for i in range(base, base + b_size):
                v = x[i] - offset
                c0 = np.rint(v / s0)
                c1 = np.rint(v / s1)
                if clamp:
                    c0 = max(min(c0, l0), zero)
                    c1 = max(min(c1, l1), zero)
                q0 = c0 * s0 + offset
                d = (c1 * s1 + offset) - q0
                diff[i] = d
                out[i] = q0 + al * d


@numba.njit(cache=True, nogil=True)
def single_int(x, rows, p_size, lo, step0, lim0, symmetric, clamp, out):  # pragma: no cover
    """out = Q0 only (integer bitlength, no gradient for it)."""
    b_size = x.size // rows
    zero = np.float32(0.0)
    for row in range(rows):
        p = row % p_size
        s0 = step0[p]
        l0 = lim0[p]
        offset = lo[p]
        base = row * b_size
        if symmetric:
            for i in range(base, base + b_size):
                c0 = np.rint(x[i] / s0)
                if clamp:
                    c0 = max(min(c0, l0), -l0)
                out[i] = c0 * s0
        else:
            for i in range(base, base + b_size):
                c0 = np.rint((x[i] - offset) / s0)
                if clamp:
                    c0 = max(min(c0, l0), zero)
                out[i] = c0 * s0 + offset


@numba.njit(cache=True, nogil=True)
def grad_sum(grad, diff, rows, p_size, partial):  # pragma: no cover
    """partial[p] = Σ grad·diff over the rows of bitlength p, accumulated in float64."""
    b_size = grad.size // rows
    partial[:] = 0.0
    for row in range(rows):
        base = row * b_size
        acc = 0.0
        for i in range(base, base + b_size):
            acc += grad[i] * diff[i]
        partial[row % p_size] += acc
