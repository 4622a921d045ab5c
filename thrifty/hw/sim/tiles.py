"""Tiles of R × C PEs, their synchronisation policies, and the distribution of output tiles.

An operation O = A · B (A: M × K serial rows, B: K × N parallel columns) is cut into output
tiles of R × C outputs; PE (r, c) of a tile computes one output in S = ⌈K / lanes⌉ steps, taking
`step_cycles[m, n, s]` cycles for step s (from the PE model). PEs of a row share A's values and
terms, PEs of a column share B's values. Cycles of one output tile under each sync policy:

- `tile` (lockstep): every step costs the slowest PE of the tile: Σ_s max_{r,c} cycles.
- `row` (run-ahead buffer of depth D): a row advances at the pace of its slowest PE
  (row cost c_r,s = max_c cycles); row r starts step s when it has finished step s − 1 and every
  row of the tile has finished step s − D (the B values of a step stay buffered until all rows
  consumed them). The tile takes the latest finish. D = 1 equals `tile`; D ≥ S lets rows run free.
- `ideal`: no synchronisation between PEs: max_{r,c} Σ_s cycles.

Output tiles are numbered row-major within a product, products (groups) one after another, and
dealt round-robin to the T tiles: tile t gets output tiles t, t + T, t + 2T, …; a tile processes
its output tiles back to back, and the operation ends when the busiest tile ends. Unused PEs of a
partial output tile are idle (0 cycles). The bit-parallel baseline takes one cycle per step, so
each output tile costs S and the operation ⌈n_tiles / T⌉ · S cycles (`baseline_cycles`).
"""

from __future__ import annotations

import numba
import numpy as np

from thrifty.errors import SimulationError


@numba.njit(cache=True, nogil=True)
def _row_policy(row_costs: np.ndarray, depth: int) -> np.ndarray:
    """(tiles, R, S) row step costs → (tiles,) cycles under the run-ahead model."""
    n_tiles, rows, steps = row_costs.shape
    out = np.zeros(n_tiles, np.int64)
    finish = np.zeros(rows, np.int64)
    step_done = np.zeros(steps, np.int64)  # when the slowest row finished step s
    for t in range(n_tiles):
        finish[:] = 0
        for s in range(steps):
            gate = step_done[s - depth] if s >= depth else 0
            latest = 0
            for r in range(rows):
                start = finish[r] if finish[r] > gate else gate
                finish[r] = start + row_costs[t, r, s]
                if finish[r] > latest:
                    latest = finish[r]
            step_done[s] = latest
        out[t] = finish.max()
    return out


def output_tile_grid(step_cycles: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(M, N, S) per-PE step cycles → (Mt, R, Nt, C, S), zero-padded to whole output tiles."""
    if step_cycles.ndim != 3:
        raise SimulationError(f"step_cycles must be (M, N, S); got shape {step_cycles.shape}")
    m, n, s = step_cycles.shape
    mt, nt = -(-m // rows), -(-n // cols)
    if (mt * rows, nt * cols) != (m, n):
        padded = np.zeros((mt * rows, nt * cols, s), step_cycles.dtype)
        padded[:m, :n] = step_cycles
        step_cycles = padded
    return step_cycles.reshape(mt, rows, nt, cols, s)


def policy_costs(
    step_cycles: np.ndarray, rows: int, cols: int, depth: int
) -> dict[str, np.ndarray]:
    """Cycles of every output tile under each sync policy: {policy: (Mt, Nt) int64}."""
    grid = output_tile_grid(step_cycles, rows, cols)
    mt, _, nt, _, s = grid.shape
    row_steps = grid.max(axis=3)  # (Mt, R, Nt, S): a row's pace per step
    tile = row_steps.max(axis=1).sum(axis=-1, dtype=np.int64)
    row_in = np.ascontiguousarray(row_steps.transpose(0, 2, 1, 3)).reshape(mt * nt, rows, s)
    row = _row_policy(row_in.astype(np.int64), depth).reshape(mt, nt)
    ideal = grid.sum(axis=-1, dtype=np.int64).max(axis=(1, 3))
    return {"tile": tile, "row": row, "ideal": ideal}


def distribute(costs: np.ndarray, tiles: int) -> int:
    """Cycles of the busiest of `tiles` tiles when output tiles are dealt round-robin."""
    flat = np.asarray(costs, np.int64).ravel()
    if flat.size == 0:
        return 0
    padded = np.zeros(-(-flat.size // tiles) * tiles, np.int64)
    padded[: flat.size] = flat
    return int(padded.reshape(-1, tiles).sum(axis=0).max())


def baseline_cycles(output_tiles: int, steps: int, tiles: int) -> int:
    """Closed form of the bit-parallel baseline: ⌈output_tiles / T⌉ · S."""
    return -(-output_tiles // tiles) * steps


__all__ = ["baseline_cycles", "distribute", "output_tile_grid", "policy_costs"]
