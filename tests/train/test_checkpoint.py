"""Checkpoints: RNG states round-trip, unreadable files are CheckpointErrors."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from thrifty.errors import CheckpointError
from thrifty.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


def _draw() -> tuple:
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)])


def test_rng_state_round_trips_through_a_file(tmp_path: Path) -> None:
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    save_checkpoint(tmp_path / "c.pt", {"rng": rng_state(), "step": 3})
    expected = _draw()
    _draw()  # move every generator on
    payload = load_checkpoint(tmp_path / "c.pt")
    set_rng_state(payload["rng"])
    assert _draw() == expected and payload["step"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary left behind


def test_missing_and_damaged_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint at .*without --resume"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "bad.pt").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"checkpoint_version": 99}, tmp_path / "v.pt")
    with pytest.raises(CheckpointError, match="layout version 99"):
        load_checkpoint(tmp_path / "v.pt")
