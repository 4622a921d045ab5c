"""final_model=best_val: the run ends with the weights of its best validation epoch.

The validation accuracies are scripted (the real evaluation of the test split is kept), so that
the chosen epoch is known by hand; the weights are checked against a run stopped at that epoch.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

import thrifty.train.recipe as recipe
from tests.train._runs import TINY
from thrifty._config import parse_config
from thrifty.data import DataConfig, load_data
from thrifty.errors import ConfigError
from thrifty.train import Reporter, TrainConfig, train

#: A constant schedule, so that the first epochs of a phase do not depend on its length.
RUN = {**TINY, "schedule": {"name": "constant"}}
DATA = load_data(DataConfig.model_validate(TINY["data"]))


def _scripted_validation(monkeypatch: pytest.MonkeyPatch, accuracies: list[float]) -> None:
    """Validation evaluations return `accuracies` in turn; test evaluations are real."""
    real, queue = recipe.evaluate, list(accuracies)

    def evaluate(model, split, *args, **kwargs):
        if split is DATA.val:
            return 1.0, queue.pop(0)
        return real(model, split, *args, **kwargs)

    monkeypatch.setattr(recipe, "evaluate", evaluate)


def _run(tmp_path: Path, name: str, **changes) -> tuple[dict, dict[str, torch.Tensor]]:
    config = TrainConfig.model_validate({**RUN, "out": str(tmp_path / name), **changes})
    summary = train(config, data=DATA)
    return summary, torch.load(tmp_path / name / "model.pt", weights_only=True)


def _assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=0, rtol=0, msg=key)


@pytest.mark.usefixtures("one_torch_thread")
def test_best_val_restores_the_best_finetune_epoch(tmp_path: Path, monkeypatch) -> None:
    phases = {"float": {"epochs": 1}, "learn": {"epochs": 1}, "finetune": {"epochs": 3}}
    # float 0.99 and learn 0.98 beat every finetune epoch: only finetune epochs are chosen
    # among. Finetune: 0.60, 0.80, 0.70 -> its second epoch (global epoch 4).
    _scripted_validation(monkeypatch, [0.99, 0.98, 0.60, 0.80, 0.70])
    best, best_weights = _run(tmp_path, "best", phases=phases, final_model="best_val")
    monkeypatch.undo()
    stopped = {**phases, "finetune": {"epochs": 2}}
    last, last_weights = _run(tmp_path, "stopped", phases=stopped)
    _assert_same_weights(best_weights, last_weights)
    assert best["selected_epoch"] == 4 and best["selected_val_accuracy"] == 0.80
    assert best["final_accuracy"] == last["final_accuracy"]
    assert best["final_model"] == "best_val" and last["final_model"] == "last"
    assert "selected_epoch" not in last
    kept = torch.load(tmp_path / "best" / recipe.BEST_MODEL_FILE, weights_only=True)
    _assert_same_weights(kept, best_weights)
    # The last epoch's weights were tested too, before the restore: the three-epoch run's.
    whole, _ = _run(tmp_path, "whole", phases=phases)
    assert best["last_epoch_accuracy"] == whole["final_accuracy"]


@pytest.mark.usefixtures("one_torch_thread")
def test_best_val_keeps_the_first_of_tied_epochs(tmp_path: Path, monkeypatch) -> None:
    phases = {"float": {"epochs": 1}, "learn": {"epochs": 0}, "finetune": {"epochs": 3}}
    _scripted_validation(monkeypatch, [0.5, 0.75, 0.75, 0.75])
    best, best_weights = _run(tmp_path, "best", phases=phases, final_model="best_val")
    monkeypatch.undo()
    _, first = _run(tmp_path, "first", phases={**phases, "finetune": {"epochs": 1}})
    assert best["selected_epoch"] == 2
    _assert_same_weights(best_weights, first)


@pytest.mark.usefixtures("one_torch_thread")
def test_best_val_of_a_float_only_run_chooses_among_float_epochs(
    tmp_path: Path, monkeypatch
) -> None:
    phases = {"float": {"epochs": 3}, "learn": {"epochs": 0}, "finetune": {"epochs": 0}}
    _scripted_validation(monkeypatch, [0.9, 0.4, 0.8])
    best, best_weights = _run(tmp_path, "best", phases=phases, final_model="best_val")
    monkeypatch.undo()
    one = {**phases, "float": {"epochs": 1}}
    _, first = _run(tmp_path, "first", phases=one)
    assert best["selected_epoch"] == 1 and best["mean_bits"] is None
    _assert_same_weights(best_weights, first)


class _StopAt(Reporter):
    def __init__(self, stop_at: int) -> None:
        self.stop_at, self.steps = stop_at, 0

    def step(self, loss: float) -> None:
        self.steps += 1
        if self.steps == self.stop_at:
            raise KeyboardInterrupt


@pytest.mark.usefixtures("one_torch_thread")
def test_best_val_survives_a_resume_after_the_best_epoch(tmp_path: Path, monkeypatch) -> None:
    # 256 / 32 = 8 steps per epoch: step 29 is in the fourth epoch (finetune's second), after
    # finetune's first epoch (the best: 0.9) was kept on disk; the resumed process has it only
    # there.
    phases = {"float": {"epochs": 1}, "learn": {"epochs": 1}, "finetune": {"epochs": 2}}
    run = {**RUN, "phases": phases, "final_model": "best_val", "checkpoint": {"every_steps": 4}}
    config = TrainConfig.model_validate({**run, "out": str(tmp_path / "resumed")})
    _scripted_validation(monkeypatch, [0.5, 0.5, 0.9])
    with pytest.raises(KeyboardInterrupt):
        train(config, data=DATA, reporter=_StopAt(29))
    monkeypatch.undo()
    _scripted_validation(monkeypatch, [0.3])
    resumed = train(config, data=DATA, resume=True)
    monkeypatch.undo()
    _scripted_validation(monkeypatch, [0.5, 0.5, 0.9, 0.3])
    whole = train(TrainConfig.model_validate({**run, "out": str(tmp_path / "whole")}), data=DATA)
    assert resumed["selected_epoch"] == whole["selected_epoch"] == 3
    for key in ("final_accuracy", "last_epoch_accuracy", "mean_bits", "layers"):
        assert resumed[key] == whole[key], key
    a, b = (torch.load(tmp_path / n / "model.pt", weights_only=True) for n in ("resumed", "whole"))
    _assert_same_weights(a, b)
    saved = json.loads((tmp_path / "resumed" / "summary.json").read_text())
    assert saved["selected_epoch"] == 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data": {**TINY["data"], "val_fraction": 0.0}}, "data.val_fraction is 0"),
        (
            {"phases": {"float": {"epochs": 1}, "learn": {"epochs": 2}, "finetune": {"epochs": 0}}},
            "phase 'finetune' (after freeze), which has 0 epochs",
        ),
        (
            {
                "phases": {
                    "float": {"checkpoint": "f.pt"},
                    "learn": {"epochs": 0},
                    "finetune": {"epochs": 0},
                }
            },
            "float-only run, which trains none",
        ),
    ],
)
def test_best_val_without_epochs_or_validation_to_choose_from_is_refused(
    changes: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(TrainConfig, {**RUN, "final_model": "best_val", **changes}, "config")
