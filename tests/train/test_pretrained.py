"""`model.pretrained`: a user's state dict loaded before the recipe, and its named errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.train._runs import TINY
from thrifty.errors import CheckpointError
from thrifty.models import build_model
from thrifty.train import TrainConfig, train

#: Fine-tune the user's weights directly: no float phase, learn and fine-tune only.
NO_FLOAT = {"float": {"epochs": 0}, "learn": {"epochs": 1}, "finetune": {"epochs": 0}}


def _digits_cnn(seed: int) -> torch.nn.Module:
    """The small CNN as `thrifty train` builds it for digits (1 channel, 8×8, 10 classes)."""
    torch.manual_seed(seed)
    return build_model("small_cnn", num_classes=10, in_channels=1, image_size=8)


def _config(tmp_path: Path, pretrained: str, phases: dict = NO_FLOAT) -> TrainConfig:
    return TrainConfig.model_validate(
        {
            **TINY,
            "out": str(tmp_path / "run"),
            "model": {"name": "small_cnn", "pretrained": pretrained},
            "phases": phases,
        }
    )


def test_pretrained_weights_are_the_start_of_the_recipe(tmp_path: Path) -> None:
    user = _digits_cnn(seed=123)  # not the run's seed: the weights must come from the file
    path = tmp_path / "mine.pt"
    torch.save(user.state_dict(), path)
    phases = {"float": {"epochs": 0}, "learn": {"epochs": 0}, "finetune": {"epochs": 0}}
    train(_config(tmp_path, str(path), phases))
    saved = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    for key, value in user.state_dict().items():
        torch.testing.assert_close(saved[key], value, atol=0, rtol=0)


def test_nested_state_dict_is_accepted(tmp_path: Path) -> None:
    user = _digits_cnn(seed=5)
    path = tmp_path / "ckpt.pt"
    torch.save({"model": user.state_dict(), "epoch": 3}, path)
    summary = train(_config(tmp_path, str(path)))
    assert summary["mean_bits"] is not None


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"pretrained weights file 'nope\.pt' does not exist"):
        train(_config(tmp_path, "nope.pt"))


def test_mismatched_keys_are_listed(tmp_path: Path) -> None:
    state = _digits_cnn(seed=0).state_dict()
    state["head.weight"] = state.pop("fc2.weight")
    path = tmp_path / "renamed.pt"
    torch.save(state, path)
    with pytest.raises(
        CheckpointError, match=r"missing keys 'fc2\.weight'; unexpected keys 'head\.weight'"
    ):
        train(_config(tmp_path, str(path)))


def test_mismatched_shapes_are_listed(tmp_path: Path) -> None:
    torch.manual_seed(0)
    other = build_model("small_cnn", num_classes=10, in_channels=1, image_size=28)
    path = tmp_path / "fashion.pt"
    torch.save(other.state_dict(), path)
    with pytest.raises(
        CheckpointError, match=r"shapes differ for 'fc1\.weight': file \(64, 1568\)"
    ):
        train(_config(tmp_path, str(path)))


def test_a_pickled_module_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "module.pt"
    torch.save(_digits_cnn(seed=0), path)
    with pytest.raises(CheckpointError, match=r"torch\.save\(model\.state_dict\(\), path\)"):
        train(_config(tmp_path, str(path)))
