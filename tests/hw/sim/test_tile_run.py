"""run_tiles equals pe_matmul followed by policy_costs, tile by tile, without per-step arrays."""

from __future__ import annotations

import numpy as np
import pytest

from thrifty.errors import NumericsError
from thrifty.hw import PEConfig, pe_matmul
from thrifty.hw.sim.tile_run import TILE_FIELDS, run_tiles
from thrifty.hw.sim.tiles import policy_costs


def _tile_sums(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    m, n = x.shape
    mt, nt = -(-m // rows), -(-n // cols)
    padded = np.zeros((mt * rows, nt * cols), np.int64)
    padded[:m, :n] = x
    return padded.reshape(mt, rows, nt, cols).sum(axis=(1, 3))


def _operands(seed: int, m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """ReLU-like a with zeros, b over a wide exponent range: both PE paths are taken."""
    rng = np.random.default_rng(seed)
    a = np.maximum(rng.normal(size=(m, k)), 0) * np.exp2(rng.integers(-30, 30, (m, k)))
    b = rng.normal(size=(k, n)) * np.exp2(rng.integers(-20, 20, (k, n)))
    b[rng.random((k, n)) < 0.2] = 0
    return a.astype(np.float32), b.astype(np.float32)


@pytest.mark.parametrize(
    ("shape", "tile", "depth", "config"),
    [
        ((19, 37, 13), (8, 8), 4, PEConfig()),
        ((5, 64, 30), (2, 3), 2, PEConfig(window="product")),
        ((33, 9, 7), (4, 4), 1, PEConfig(lanes=4, encoding="binary", min_cycles=0)),
        ((16, 100, 16), (8, 8), 100, PEConfig(accumulator_bits=11, guard_bits=0)),
    ],
)
def test_tiles_equal_matmul_then_policies(shape, tile, depth, config) -> None:
    (m, k, n), (rows, cols) = shape, tile
    a, b = _operands(m * k + n, m, k, n)
    got = run_tiles(a, b, config, rows, cols, depth)
    ref = pe_matmul(a, b, config)
    np.testing.assert_array_equal(got.value, ref.value)
    np.testing.assert_array_equal(got.baseline_value, ref.baseline_value)
    want = policy_costs(ref.step_cycles, rows, cols, depth)
    want["pe_cycles"] = _tile_sums(ref.cycles, rows, cols)
    for name in ("terms_total", "terms_out_of_bounds", "terms_processed"):
        want[name] = _tile_sums(getattr(ref, name), rows, cols)
    assert set(got.stats) == set(TILE_FIELDS)
    for name in TILE_FIELDS:
        np.testing.assert_array_equal(got.stats[name], want[name], err_msg=name)
    assert got.stats["terms_out_of_bounds"].sum() > 0  # the slow path ran too
    alone = run_tiles(a, b, config, rows, cols, depth, baseline=False)
    assert alone.baseline_value is None
    np.testing.assert_array_equal(alone.value, ref.value)
    for name in TILE_FIELDS:
        np.testing.assert_array_equal(alone.stats[name], want[name], err_msg=name)


def test_tiles_empty_and_bad_shapes() -> None:
    a, b = np.zeros((0, 4), np.float32), np.zeros((4, 3), np.float32)
    empty = run_tiles(a, b, PEConfig(), 2, 2, 1)
    assert empty.value.shape == (0, 3) and empty.stats["tile"].shape == (0, 2)
    with pytest.raises(NumericsError, match=r"needs a \(M, K\) and b \(K, N\)"):
        run_tiles(np.zeros((2, 4), np.float32), np.zeros((5, 3), np.float32), PEConfig(), 2, 2, 1)
