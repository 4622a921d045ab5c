"""The quantizer kernels' multi-threaded twins give the single-threaded results bit for bit.

Large tensors (at least `PARALLEL_MIN_VALUES` values) run on torch's thread count; the
forward's values are independent and the backward adds its segment sums in segment order, so
the thread count must not change a single bit, and the caller's thread counts are left as found.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch

from thrifty._process_state import preserved_thread_counts
from thrifty.quant import _kernels
from thrifty.quant import functional as F

#: Rows × values per row: rows longer than a segment (several pieces each) and a short tail.
ROWS, PER_ROW = 6, 2 * _kernels.SEGMENT + 1234


def _case(symmetric: bool, seed: int = 0):
    """x of ROWS rows cycling through 3 fractional bitlengths and their ranges."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(ROWS * PER_ROW) * 3).astype(np.float32)
    bits = np.array([2.3, 4.75, 7.01], np.float32)
    rows = x.reshape(ROWS, PER_ROW)
    lo = np.array([rows[p::3].min() for p in range(3)], np.float32) * np.float32(0.8)
    hi = np.array([rows[p::3].max() for p in range(3)], np.float32) * np.float32(0.8)
    grad = rng.standard_normal(x.size).astype(np.float32)
    return x, grad, bits, lo, hi


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("clamp", [False, True])
def test_parallel_twins_equal_the_serial_kernels_bit_for_bit(symmetric: bool, clamp: bool) -> None:
    x, grad, bits, lo, hi = _case(symmetric)
    serial, parallel = np.empty_like(x), np.empty_like(x)
    partial_serial, partial_parallel = np.empty(3), np.empty(3)
    single_serial, single_parallel = np.empty_like(x), np.empty_like(x)
    integer_bits = np.floor(bits)
    _kernels.fused_int(x, ROWS, bits, lo, hi, symmetric, clamp, serial)
    _kernels.grad_recompute(grad, x, ROWS, bits, lo, hi, symmetric, clamp, partial_serial)
    _kernels.single_int(x, ROWS, integer_bits, lo, hi, symmetric, clamp, single_serial)
    with preserved_thread_counts():
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        _kernels.fused_int_parallel(x, ROWS, bits, lo, hi, symmetric, clamp, parallel)
        _kernels.grad_recompute_parallel(
            grad, x, ROWS, bits, lo, hi, symmetric, clamp, partial_parallel
        )
        _kernels.single_int_parallel(
            x, ROWS, integer_bits, lo, hi, symmetric, clamp, single_parallel
        )
    assert np.array_equal(serial, parallel)
    assert np.array_equal(partial_serial, partial_parallel)
    assert np.array_equal(single_serial, single_parallel)


def _quantize_and_grad(x: torch.Tensor, threads: int) -> tuple[torch.Tensor, torch.Tensor]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        n = torch.tensor([[3.4], [5.6]], requires_grad=True)
        lo, hi = x.amin(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)
        out = F.fractional_quantize(x, n, lo, hi, "int")
        (grad_n,) = torch.autograd.grad(out, n, torch.linspace(-1, 1, x.numel()).view_as(x))
        return out.detach(), grad_n
    finally:
        torch.set_num_threads(before)


def test_thread_count_changes_no_bit_of_the_quantizer_and_is_left_as_found() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, F.PARALLEL_MIN_VALUES)  # two rows: two bitlengths, above the threshold
    one_out, one_grad = _quantize_and_grad(x, 1)
    numba_before = numba.get_num_threads()
    two_out, two_grad = _quantize_and_grad(x, 2)
    assert torch.equal(one_out, two_out)
    assert torch.equal(one_grad, two_grad)
    assert numba.get_num_threads() == numba_before
    # against the definition: Σ g·(Q(x, b+1) − Q(x, b)) per row, in float64
    g = torch.linspace(-1, 1, x.numel()).view_as(x).double()
    lo, hi = x.amin(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)
    b = torch.tensor([[3.0], [5.0]])
    gap = F.int_quantize(x, b + 1, lo, hi) - F.int_quantize(x, b, lo, hi)
    expected = (g * gap.double()).sum(dim=1, keepdim=True).float()
    torch.testing.assert_close(one_grad, expected, rtol=1e-6, atol=1e-6)
