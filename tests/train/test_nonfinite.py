"""A NaN or infinite loss stops training with an error naming phase, epoch and step, leaving the
last good checkpoint in place; `nonfinite_loss: skip` skips such steps and counts them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.train._runs import TINY, cli, write_config
from thrifty.errors import TrainingError
from thrifty.train import TrainConfig, train
from thrifty.train.checkpoint import load_checkpoint

_cross_entropy = F.cross_entropy


def _nan_at(training_calls: set[int]):
    """A cross_entropy that returns NaN (keeping the graph) at the given training calls (0-based,
    counted over the whole run; evaluation calls use reduction='sum' and are left alone)."""
    calls = {"n": 0}

    def cross_entropy(logits, labels, *args, **kwargs):
        loss = _cross_entropy(logits, labels, *args, **kwargs)
        if kwargs.get("reduction", "mean") == "mean":
            if calls["n"] in training_calls:
                loss = loss * float("nan")
            calls["n"] += 1
        return loss

    return cross_entropy


def test_cli_run_that_diverges_names_phase_epoch_and_step(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", TINY)
    done = cli("train", str(config), "--out", str(tmp_path / "run"), "--set", "optimizer.lr=1e12")
    assert done.returncode == 2, done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("error: the loss became nan in phase 'float', epoch 1/2, step ")
    assert "no checkpoint was written yet" in error and "lower optimizer.lr" in error
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run" / "summary.json").exists()


def test_stop_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch) -> None:
    # TINY: 256 examples / 32 = 8 steps per epoch; calls 0-15 are the float phase's 2 epochs.
    monkeypatch.setattr(F, "cross_entropy", _nan_at({16 + 2}))
    run = tmp_path / "run"
    with pytest.raises(
        TrainingError,
        match=r"loss became nan in phase 'learn', epoch 1/2, step 3/8; training stopped and "
        rf"'{run / 'checkpoint.pt'}' keeps the last good state",
    ):
        train(TrainConfig.model_validate({**TINY, "out": str(run)}))
    payload = load_checkpoint(run / "checkpoint.pt")
    assert (payload["state"]["phase"], payload["state"]["epoch"]) == ("float", 2)
    assert all(torch.isfinite(t).all() for t in payload["model"].values())
    assert not (run / "summary.json").exists()


def test_skip_counts_the_steps_and_records_them(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(F, "cross_entropy", _nan_at({1, 5, 20}))
    config = {**TINY, "nonfinite_loss": "skip", "out": str(tmp_path / "run")}
    summary = train(TrainConfig.model_validate(config))
    assert summary["skipped_steps"] == 3
    assert math.isfinite(summary["final_accuracy"])
    state = torch.load(tmp_path / "run" / "model.pt")
    assert all(torch.isfinite(t).all() for t in state.values())
