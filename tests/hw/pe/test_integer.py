"""Integer mode: term-serial cycles against a direct count, bit-serial cycles, bitlength checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from thrifty.errors import NumericsError
from thrifty.hw import PEConfig
from thrifty.hw.pe.integer import integer_step_cycles, run_integer_pe
from thrifty.numerics import reference_terms


def _direct_cycles(a: list[int], b: list[int], config: PEConfig) -> int:
    total = 0
    for start in range(0, len(a), config.lanes):
        lanes = zip(a[start : start + config.lanes], b[start : start + config.lanes], strict=True)
        busiest = max(
            (len(reference_terms(abs(x), config.encoding)) for x, y in lanes if x and y),
            default=0,
        )
        total += max(busiest, config.min_cycles)
    return total


@pytest.mark.parametrize("encoding", ["naf", "binary", "booth4"])
def test_term_serial_cycles_match_a_direct_count(encoding: str) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, size=(6, 21))
    b = rng.integers(-3, 4, size=(6, 21))
    config = PEConfig(encoding=encoding, lanes=4)
    res = run_integer_pe(a, b, bitlength=8, config=config)
    for r in range(6):
        assert res.term_serial_cycles[r] == _direct_cycles(a[r].tolist(), b[r].tolist(), config)
    np.testing.assert_array_equal(res.value, (a * b).sum(-1))
    assert (res.bit_serial_cycles == 6 * 8).all()  # ceil(21 / 4) steps x 8 bits
    assert (res.bit_parallel_cycles == 6).all()
    assert (res.idle_lane_steps == 24 - ((a != 0) & (b != 0)).sum(-1)).all()


def test_matmul_step_cycles_equal_pairs() -> None:
    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.integers(0, 16, size=(5, 19)))
    b = torch.from_numpy(rng.integers(-1, 2, size=(19, 4)))
    steps = integer_step_cycles(a, b, bitlength=4)
    pairs = run_integer_pe(a[:, None, :], b.T[None, :, :], bitlength=4)
    assert steps.shape == (5, 4, 3)
    np.testing.assert_array_equal(steps.sum(-1), pairs.term_serial_cycles)


def test_bitlength_is_checked() -> None:
    with pytest.raises(NumericsError, match=r"does not fit 4 bits \(allowed \[0, 15\]\)"):
        run_integer_pe(np.array([16, 1]), np.array([1, 1]), bitlength=4)
    with pytest.raises(NumericsError, match=r"allowed \[-8, 7\]"):
        run_integer_pe(np.array([-9, 1]), np.array([1, 1]), bitlength=4)
    with pytest.raises(NumericsError, match="integer tensors"):
        run_integer_pe(np.array([1.0]), np.array([1]), bitlength=4)
