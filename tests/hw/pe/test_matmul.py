"""pe_matmul equals run_pe on the broadcast pairs, field by field, without forming them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from thrifty.errors import ConfigError, NumericsError
from thrifty.hw import PEConfig, iter_pe_matmul, pe_matmul, run_pe


@pytest.mark.parametrize(
    "config",
    [PEConfig(), PEConfig(lanes=3, encoding="booth4", min_cycles=2, accumulator_bits=16)],
)
def test_matmul_equals_run_pe_on_broadcast_pairs(config: PEConfig) -> None:
    rng = np.random.default_rng(0)
    m, k, n = 7, 21, 5
    a = np.maximum(rng.normal(size=(m, k)), 0).astype(np.float32)  # post-ReLU: half zeros
    b = (rng.normal(size=(k, n)) * np.exp2(rng.integers(-30, 5, size=(k, n)))).astype(np.float32)
    mm = pe_matmul(a, b, config)
    pairs = run_pe(a[:, None, :], b.T[None, :, :], config)
    np.testing.assert_array_equal(mm.value.view(np.uint32), pairs.value.view(np.uint32))
    np.testing.assert_array_equal(mm.baseline_value, pairs.baseline_value)
    np.testing.assert_array_equal(mm.cycles, pairs.cycles)
    for name in ("terms_total", "terms_out_of_bounds", "terms_processed", "idle_lane_steps"):
        np.testing.assert_array_equal(getattr(mm, name), getattr(pairs.stats, name))
    steps = -(-k // config.lanes)
    assert mm.step_cycles.shape == (m, n, steps)
    assert mm.step_cycles.dtype == np.uint8
    assert (mm.step_cycles >= config.min_cycles).all()
    np.testing.assert_array_equal(mm.step_cycles.sum(axis=-1), mm.cycles)
    assert mm.value.dtype == np.float32 and mm.cycles.dtype == np.int64


def test_matmul_accepts_bfloat16_tensors_and_counts_policies() -> None:
    a = torch.tensor([[1.0, 2.0**-130, 3.0]], dtype=torch.bfloat16)  # one subnormal
    b = torch.tensor([[1.0], [1.0], [2.0]])
    res = pe_matmul(a, b)
    assert res.value.tolist() == [[7.0]]
    assert res.policy_counts.subnormals_flushed == 1


def test_matmul_empty_and_bad_shapes() -> None:
    res = pe_matmul(np.zeros((0, 4), np.float32), np.zeros((4, 3), np.float32))
    assert res.value.shape == (0, 3) and res.step_cycles.shape == (0, 3, 1)
    with pytest.raises(NumericsError, match=r"a \(M, K\) and b \(K, N\)"):
        pe_matmul(np.zeros((2, 4), np.float32), np.zeros((5, 3), np.float32))


def test_chunked_matmul_equals_one_call() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=(10, 12)).astype(np.float32)
    b = rng.normal(size=(12, 3)).astype(np.float32)
    whole = pe_matmul(a, b)
    chunks = list(iter_pe_matmul(a, b, rows_per_chunk=4))
    assert [rows.stop - rows.start for rows, _ in chunks] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([r.value for _, r in chunks]), whole.value)
    np.testing.assert_array_equal(
        np.concatenate([r.step_cycles for _, r in chunks]), whole.step_cycles
    )
    with pytest.raises(ConfigError, match="rows_per_chunk"):
        next(iter_pe_matmul(a, b, rows_per_chunk=0))
