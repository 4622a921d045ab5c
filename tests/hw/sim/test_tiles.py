"""Sync policies, round-robin distribution and the baseline closed form, against plain loops."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from thrifty.hw.sim.tiles import baseline_cycles, distribute, policy_costs


def _loops(step_cycles, rows, cols, depth):
    """Independent per-tile model written with Python loops over PEs and steps."""
    m, n, s = step_cycles.shape
    mt, nt = -(-m // rows), -(-n // cols)
    out = {p: np.zeros((mt, nt), np.int64) for p in ("tile", "row", "ideal")}
    for i in range(mt):
        for j in range(nt):
            pes = [(r, c) for r in range(i * rows, min(m, (i + 1) * rows))
                   for c in range(j * cols, min(n, (j + 1) * cols))]  # fmt: skip
            out["tile"][i, j] = sum(max(step_cycles[p][q] for p in pes) for q in range(s))
            out["ideal"][i, j] = max(int(step_cycles[p].sum()) for p in pes)
            row_ids = sorted({r for r, _ in pes})
            finish = dict.fromkeys(row_ids, 0)
            done = []
            for q in range(s):
                gate = done[q - depth] if q >= depth else 0
                for r in row_ids:
                    pace = max(step_cycles[r, c, q] for rr, c in pes if rr == r)
                    finish[r] = max(finish[r], gate) + pace
                done.append(max(finish.values()))
            out["row"][i, j] = max(finish.values())
    return out


@given(
    m=st.integers(1, 9),
    n=st.integers(1, 9),
    s=st.integers(1, 7),
    rows=st.integers(1, 4),
    cols=st.integers(1, 4),
    depth=st.integers(1, 8),
    seed=st.integers(0, 2**16),
)
def test_policies_match_loops(m, n, s, rows, cols, depth, seed):
    rng = np.random.default_rng(seed)
    cycles = rng.integers(0, 6, size=(m, n, s)).astype(np.uint8)
    got = policy_costs(cycles, rows, cols, depth)
    want = _loops(cycles, rows, cols, depth)
    for policy in ("tile", "row", "ideal"):
        np.testing.assert_array_equal(got[policy], want[policy], err_msg=policy)
    assert np.all(got["tile"] >= got["row"]) and np.all(got["row"] >= got["ideal"])


def test_row_policy_depth_limits_and_hand_example():
    # One tile of 2 rows × 1 column, 2 steps: row 0 takes (3, 1), row 1 takes (1, 3).
    cycles = np.array([[[3, 1]], [[1, 3]]], np.uint8)
    assert policy_costs(cycles, 2, 1, 1)["row"][0, 0] == 6  # lockstep: 3 + 3
    assert policy_costs(cycles, 2, 1, 1)["tile"][0, 0] == 6
    # D = 2: row 1 starts its step 1 at cycle 1 and ends at 4; row 0 ends at 4.
    assert policy_costs(cycles, 2, 1, 2)["row"][0, 0] == 4
    assert policy_costs(cycles, 2, 1, 2)["ideal"][0, 0] == 4


def test_round_robin_distribution():
    costs = np.array([5, 1, 1, 4, 2])
    assert distribute(costs, 1) == 13
    assert distribute(costs, 2) == 5 + 1 + 2  # tile 0 gets tiles 0, 2, 4
    assert distribute(costs, 3) == 5 + 4
    assert distribute(costs, 10) == 5


@pytest.mark.parametrize(("m", "n", "k", "tiles"), [(16, 16, 8, 1), (17, 9, 19, 3), (5, 40, 1, 4)])
def test_baseline_closed_form_is_one_cycle_per_step(m, n, k, tiles):
    lanes, rows, cols = 8, 8, 8
    steps = -(-k // lanes)
    ones = np.ones((m, n, steps), np.uint8)  # a bit-parallel PE: one cycle per step
    costs = policy_costs(ones, rows, cols, 2)
    n_tiles = costs["tile"].size
    for policy in ("tile", "row", "ideal"):
        assert distribute(costs[policy], tiles) == baseline_cycles(n_tiles, steps, tiles)
    assert baseline_cycles(n_tiles, steps, tiles) == -(-(-(-m // 8) * -(-n // 8)) // tiles) * steps
