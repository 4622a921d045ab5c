"""One product on tiles of PEs in one pass: each output tile's costs without per-step arrays.

`run_tiles(a, b, pe, rows, cols, depth)` gives, for o = a @ b (a serial), what
`pe_matmul` followed by `tiles.policy_costs` gives (the same numbers: tests compare them), but
computes it tile by tile inside one numba kernel:

- the per-step cycles of a PE are folded into its row's pace (max over the row's PEs) as they are
  produced, so the (M, N, S) per-step array is never formed (memory O(M * N), not O(M * N * S));
- the kernel runs its threads over the output tiles of the whole product (dynamic scheduling),
  so both cores stay busy whatever the shape: a product with few rows of outputs and many
  columns is split as finely as one with many rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch
from numba import njit, prange

from thrifty._process_state import preserved_thread_counts
from thrifty.errors import NumericsError
from thrifty.hw.pe.config import PEConfig
from thrifty.hw.pe.fast import SA_LIMBS, decode_operand, reduce_one
from thrifty.hw.pe.operands import kernel_arguments, operand_bits

#: Per-output-tile quantities, in the order of the kernel's last axis.
TILE_FIELDS = (
    "tile",
    "row",
    "ideal",
    "pe_cycles",
    "terms_total",
    "terms_out_of_bounds",
    "terms_processed",
)


@njit(cache=True, nogil=True)
def _row_finish(row_steps, depth, finish, step_done):
    """Cycles of one output tile under the run-ahead row policy (see `tiles._row_policy`)."""
    rows, steps = row_steps.shape
    finish[:] = 0
    for s in range(steps):
        gate = step_done[s - depth] if s >= depth else 0
        latest = 0
        for r in range(rows):
            start = finish[r] if finish[r] > gate else gate
            finish[r] = start + row_steps[r, s]
            if finish[r] > latest:
                latest = finish[r]
        step_done[s] = latest
    best = 0
    for r in range(rows):
        best = max(best, finish[r])
    return best


@njit(cache=True, parallel=True, nogil=True)  # nogil: the next operation is lowered meanwhile
def tiles_kernel(
    a, bt, params, count_from, value_from, rows, cols, depth, values, base, tile_stats, baseline
):
    """Output tiles (i, j) of decoded a (M, 3, K) . bt (N, 3, K) (`decode_operand`): values,
    baselines (left as they are when `baseline` is False) and TILE_FIELDS stats."""
    n_rows = a.shape[0]
    n_cols = bt.shape[0]
    lanes = params[0]
    steps = (a.shape[2] + lanes - 1) // lanes
    tiles_down = (n_rows + rows - 1) // rows
    tiles_across = (n_cols + cols - 1) // cols
    for t in prange(tiles_down * tiles_across):
        ti = t // tiles_across
        tj = t - ti * tiles_across
        mants = np.zeros(lanes + 2, dtype=np.int64)
        exps = np.zeros(lanes + 2, dtype=np.int64)
        limbs = np.zeros(SA_LIMBS + 2, dtype=np.int64)
        stats = np.zeros(5, dtype=np.int64)
        row_steps = np.zeros((rows, steps), dtype=np.int64)
        finish = np.zeros(rows, dtype=np.int64)
        step_done = np.zeros(steps, dtype=np.int64)
        ideal = 0
        pe_cycles = 0
        terms_total = 0
        out_of_bounds = 0
        processed = 0
        for r in range(rows):
            m = ti * rows + r
            if m >= n_rows:
                break
            for c in range(cols):
                n = tj * cols + c
                if n >= n_cols:
                    break
                v, bv = reduce_one(
                    a[m], bt[n], params, count_from, value_from, row_steps[r], stats,
                    mants, exps, limbs, True, baseline,
                )  # fmt: skip
                values[m, n] = v
                if baseline:
                    base[m, n] = bv
                ideal = max(ideal, stats[0])
                pe_cycles += stats[0]
                terms_total += stats[1]
                out_of_bounds += stats[2]
                processed += stats[3]
        lockstep = 0
        for s in range(steps):
            pace = 0
            for r in range(rows):
                pace = max(pace, row_steps[r, s])
            lockstep += pace
        tile_stats[ti, tj, 0] = lockstep
        tile_stats[ti, tj, 1] = _row_finish(row_steps, depth, finish, step_done)
        tile_stats[ti, tj, 2] = ideal
        tile_stats[ti, tj, 3] = pe_cycles
        tile_stats[ti, tj, 4] = terms_total
        tile_stats[ti, tj, 5] = out_of_bounds
        tile_stats[ti, tj, 6] = processed


@dataclass(frozen=True)
class TileRun:
    """A product run on output tiles: outputs (M, N) float32, per-tile stats (Mt, Nt) int64.

    stats maps each name of TILE_FIELDS to its (Mt, Nt) array: cycles under each sync policy
    (`tile`, `row`, `ideal`), PE cycles summed over the tile's PEs, and term counts.
    baseline_value is None when the run was asked for no baseline values.
    """

    value: np.ndarray
    baseline_value: np.ndarray | None
    stats: dict[str, np.ndarray]


def run_tiles(
    a: torch.Tensor | np.ndarray,
    b: torch.Tensor | np.ndarray,
    pe: PEConfig,
    rows: int,
    cols: int,
    depth: int,
    *,
    baseline: bool = True,
) -> TileRun:
    """Run o = a @ b (a (M, K) serial, b (K, N) bit-parallel) on R x C output tiles.

    `baseline=False` skips the bit-parallel baseline's output values (its exact sums and
    roundings: 12 % of the kernel's CPU time on a ResNet-20 step): the term-serial values and
    every stat are the same, and `baseline_value` is None. The simulator reports no baseline
    values.
    """
    a_bits, _ = operand_bits(a, pe, "a")
    b_bits, _ = operand_bits(b, pe, "b")
    if a_bits.ndim != 2 or b_bits.ndim != 2 or a_bits.shape[1] != b_bits.shape[0]:
        raise NumericsError(
            f"run_tiles needs a (M, K) and b (K, N); got {a_bits.shape} and {b_bits.shape}"
        )
    m, n = a_bits.shape[0], b_bits.shape[1]
    mt, nt = -(-m // rows), -(-n // cols)
    values = np.zeros((m, n), dtype=np.float32)
    base = np.zeros((m, n) if baseline else (0, 0), dtype=np.float32)
    stats = np.zeros((mt, nt, len(TILE_FIELDS)), dtype=np.int64)
    if m and n:
        params, count_from, value_from = kernel_arguments(pe)
        with preserved_thread_counts():
            a_dec = decode_operand(np.ascontiguousarray(a_bits), count_from)
            bt_dec = decode_operand(np.ascontiguousarray(b_bits.T), count_from)
            with numba.parallel_chunksize(1):
                tiles_kernel(a_dec, bt_dec, params, count_from, value_from, rows, cols, depth,
                             values, base, stats, baseline)  # fmt: skip
    return TileRun(
        value=values,
        baseline_value=base if baseline else None,
        stats={name: np.ascontiguousarray(stats[..., i]) for i, name in enumerate(TILE_FIELDS)},
    )


__all__ = ["TILE_FIELDS", "TileRun", "run_tiles"]
