"""Knowledge distillation: the objective against a hand-worked value, and in the recipe."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.train._runs import TINY
from thrifty.errors import ConfigError
from thrifty.train import TrainConfig, train
from thrifty.train.config import load_train_config
from thrifty.train.distill import DistillConfig, Distiller


def _constant_teacher(logits: list[float]) -> nn.Module:
    """A 'model' whose logits are `logits` whatever the input (zero weights, that bias)."""
    teacher = nn.Linear(3, len(logits))
    with torch.no_grad():
        teacher.weight.zero_()
        teacher.bias.copy_(torch.tensor(logits))
    return teacher


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_objective_matches_a_hand_worked_kl(temperature: float) -> None:
    # Teacher: uniform over 2 classes. Student logits (ln 3, 0): softened by T, its
    # probabilities are 3^(1/T) / (3^(1/T) + 1) and 1 / (3^(1/T) + 1).
    distiller = Distiller(
        _constant_teacher([0.0, 0.0]), DistillConfig(weight=0.25, temperature=temperature)
    )
    student = torch.tensor([[math.log(3.0), 0.0]])
    task = torch.tensor(0.7)
    q1 = 3 ** (1 / temperature) / (3 ** (1 / temperature) + 1)
    kl = 0.5 * math.log(0.5 / q1) + 0.5 * math.log(0.5 / (1 - q1))
    expected = 0.75 * 0.7 + 0.25 * temperature**2 * kl
    assert distiller(torch.zeros(1, 3), student, task).item() == pytest.approx(expected, rel=1e-6)


def test_weight_zero_is_the_task_loss_and_the_teacher_is_frozen() -> None:
    teacher = _constant_teacher([1.0, -1.0])
    distiller = Distiller(teacher, DistillConfig(weight=0.0))
    task = torch.tensor(1.25)
    assert distiller(torch.zeros(2, 3), torch.randn(2, 2), task).item() == 1.25
    assert not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())


def test_config_bounds_are_checked() -> None:
    with pytest.raises(ConfigError, match="distill.weight"):
        load_train_config(overrides=["distill.weight=1.5"])


def test_recipe_distills_in_the_quantized_phases(tmp_path: Path) -> None:
    plain = train(TrainConfig.model_validate({**TINY, "out": str(tmp_path / "plain")}))
    distilled = train(
        TrainConfig.model_validate(
            {**TINY, "out": str(tmp_path / "kd"), "distill": {"weight": 0.5, "temperature": 2.0}}
        )
    )
    # Same float phase (the teacher), different quantized phases.
    assert distilled["float_accuracy"] == plain["float_accuracy"]
    a = torch.load(tmp_path / "plain" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "kd" / "model.pt", weights_only=True)
    assert not torch.equal(a["fc1.weight"], b["fc1.weight"])
    assert distilled["config"]["distill"] == {"weight": 0.5, "temperature": 2.0}
