"""A run killed by SIGKILL at an arbitrary moment resumes to exactly the uninterrupted result."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import torch

from tests.train._runs import TINY, popen, write_config
from thrifty.train import Reporter, TrainConfig, train

#: Long enough (150 steps of a tiny model) that the kill lands mid-run.
RESUME_RUN = {
    **TINY,
    "data": {**TINY["data"], "train_subset": 200, "batch_size": 8},
    "phases": {"float": {"epochs": 2}, "learn": {"epochs": 2}, "finetune": {"epochs": 2}},
    "checkpoint": {"every_steps": 7},
}


def _records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]


@pytest.mark.usefixtures("one_torch_thread")  # the killed CLI run used one thread too
def test_killed_run_resumes_bit_identical(tmp_path: Path) -> None:
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    config = write_config(tmp_path / "c.yaml", RESUME_RUN)
    process = popen("train", str(config), "--out", str(killed))
    # Kill once the first epoch is recorded and a checkpoint exists: mid-run, mid-epoch likely.
    # No deadline of its own (pytest-timeout bounds the test): on a loaded machine the first
    # epoch can take minutes, and a fixed wait made the test fail there.
    while process.poll() is None:
        if (killed / "metrics.jsonl").exists() and (killed / "checkpoint.pt").exists():
            break
        time.sleep(0.005)
    assert process.poll() is None, process.stderr.read().decode()
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "summary.json").exists()  # it really was interrupted
    done_before = len(_records(killed))
    # Resume in this process (the CLI's --resume calls exactly this), to save a start-up.
    train(TrainConfig.model_validate({**RESUME_RUN, "out": str(killed)}), resume=True)
    train(TrainConfig.model_validate({**RESUME_RUN, "out": str(whole)}))
    assert len(_records(whole)) == 6 and done_before < 6
    assert _records(killed) == _records(whole)
    a, b = (json.loads((run / "summary.json").read_text()) for run in (killed, whole))
    for key in ("float_accuracy", "final_accuracy", "mean_bits", "layers"):
        assert a[key] == b[key], key
    state_a, state_b = (torch.load(run / "model.pt") for run in (killed, whole))
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        torch.testing.assert_close(state_a[key], state_b[key], atol=0, rtol=0)


class _StopAfter(Reporter):
    """Records messages; raises at the given step, as if the run were interrupted there."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.stop_at, self.steps, self.messages = stop_at, 0, []

    def message(self, text: str) -> None:
        self.messages.append(text)

    def step(self, loss: float) -> None:
        self.steps += 1
        if self.steps == self.stop_at:
            raise KeyboardInterrupt


def test_resume_says_where_it_resumes(tmp_path: Path) -> None:
    # 256 examples / 32 = 8 steps per epoch; checkpoints every 5 steps: the last one before
    # step 11 is at step 10, that is step 2 of the float phase's second epoch.
    config = TrainConfig.model_validate(
        {**TINY, "out": str(tmp_path / "run"), "checkpoint": {"every_steps": 5}}
    )
    with pytest.raises(KeyboardInterrupt):
        train(config, reporter=_StopAfter(stop_at=11))
    reporter = _StopAfter()
    train(config, resume=True, reporter=reporter)
    assert reporter.messages == [
        "resuming from step 10 of phase 'float' (8 steps per epoch; 10 steps done over all phases)"
    ]
