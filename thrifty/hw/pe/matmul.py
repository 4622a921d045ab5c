"""`pe_matmul`: every output of a matrix product on the term-serial PE, without the M x N x K pairs.

o[m, n] = sum_k a[m, k] * b[k, n], reduced in k order, `lanes` products per step, exactly as
`run_pe` would reduce the pair (a[m, :], b[:, n]) — same values, cycles and counts. Each operand
is converted to bfloat16 patterns once (O(M*K + K*N)); the numba kernel then decodes fields and
reads the term tables on the fly. The caller chunks M: memory is O(M*N*S) bytes for the per-step
cycles (S = ceil(K / lanes)) plus O(M*N) for the other results.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from thrifty._process_state import preserved_thread_counts
from thrifty.errors import ConfigError, NumericsError
from thrifty.hw.pe.config import PEConfig
from thrifty.hw.pe.fast import decode_operand, matmul_kernel
from thrifty.hw.pe.operands import kernel_arguments, operand_bits
from thrifty.numerics.policy import PolicyCounts


@dataclass(frozen=True)
class MatmulResult:
    """Results per output (m, n) (numpy arrays); see `thrifty.hw.PEStats` for the counts.

    value, baseline_value: (M, N) float32; step_cycles: (M, N, S) uint8, each >= min_cycles;
    cycles and the counts: (M, N) int64; the baseline takes S cycles per output.
    policy_counts: operands flushed/zeroed in this call (a and b together).
    """

    value: np.ndarray
    baseline_value: np.ndarray
    step_cycles: np.ndarray
    cycles: np.ndarray
    terms_total: np.ndarray
    terms_out_of_bounds: np.ndarray
    terms_processed: np.ndarray
    idle_lane_steps: np.ndarray
    policy_counts: PolicyCounts


def pe_matmul(
    a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, config: PEConfig | None = None
) -> MatmulResult:
    """Run o = a @ b with a (M, K) as the serial operand and b (K, N) bit-parallel."""
    config = PEConfig() if config is None else config
    a_bits, a_counts = operand_bits(a, config, "a")
    b_bits, b_counts = operand_bits(b, config, "b")
    if a_bits.ndim != 2 or b_bits.ndim != 2 or a_bits.shape[1] != b_bits.shape[0]:
        raise NumericsError(
            f"pe_matmul needs a (M, K) and b (K, N); got {a_bits.shape} and {b_bits.shape}"
        )
    m, k = a_bits.shape
    n = b_bits.shape[1]
    steps = -(-k // config.lanes)
    a2 = np.ascontiguousarray(a_bits)
    bt = np.ascontiguousarray(b_bits.T)
    values = np.zeros((m, n), dtype=np.float32)
    base = np.zeros((m, n), dtype=np.float32)
    stats = np.zeros((m, n, 5), dtype=np.int64)
    step_cycles = np.zeros((m, n, steps), dtype=np.uint8)
    if m and n:
        params, count_from, value_from = kernel_arguments(config)
        with preserved_thread_counts():  # numba's OpenMP pool resets torch's threads
            a_dec = decode_operand(a2, count_from)
            bt_dec = decode_operand(bt, count_from)
            matmul_kernel(a_dec, bt_dec, params, count_from, value_from, values, base, stats,
                          step_cycles)  # fmt: skip
    return MatmulResult(
        value=values,
        baseline_value=base,
        step_cycles=step_cycles,
        cycles=np.ascontiguousarray(stats[..., 0]),
        terms_total=np.ascontiguousarray(stats[..., 1]),
        terms_out_of_bounds=np.ascontiguousarray(stats[..., 2]),
        terms_processed=np.ascontiguousarray(stats[..., 3]),
        idle_lane_steps=np.ascontiguousarray(stats[..., 4]),
        policy_counts=a_counts + b_counts,
    )


def iter_pe_matmul(
    a: torch.Tensor | np.ndarray,
    b: torch.Tensor | np.ndarray,
    config: PEConfig | None = None,
    rows_per_chunk: int = 256,
) -> Iterator[tuple[slice, MatmulResult]]:
    """pe_matmul over chunks of `rows_per_chunk` rows of a: yields (rows of a, their result).

    Memory stays O(rows_per_chunk * N * S) whatever M is.
    """
    if rows_per_chunk < 1:
        raise ConfigError(f"rows_per_chunk must be >= 1; got {rows_per_chunk}")
    for start in range(0, a.shape[0], rows_per_chunk):
        rows = slice(start, min(start + rows_per_chunk, a.shape[0]))
        yield rows, pe_matmul(a[rows], b, config)
