"""The recipe end to end on tiny digits runs: files, summary keys, phases, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.train._runs import TINY
from thrifty._config import parse_config
from thrifty.errors import CheckpointError, ConfigError
from thrifty.train import TrainConfig, train

SUMMARY_KEYS = {
    "float_accuracy",
    "final_accuracy",
    "mean_weight_bits",
    "mean_activation_bits",
    "mean_bits",
    "memory_weighted_bits",
    "bitops",
    "layers",
    "config",
    "seed",
    "thrifty_version",
}


def test_float_only_run_writes_the_run_folder(tmp_path: Path) -> None:
    config = TrainConfig.model_validate(
        {
            **TINY,
            "out": str(tmp_path / "run"),
            "phases": {"float": {"epochs": 2}, "learn": {"epochs": 0}, "finetune": {"epochs": 0}},
        }
    )
    summary = train(config)
    run = tmp_path / "run"
    names = {p.name for p in run.iterdir()}
    assert {
        "config.yaml",
        "metrics.jsonl",
        "checkpoint.pt",
        "float_model.pt",
        "model.pt",
        "bitlengths.json",
        "summary.json",
    } <= names
    assert set(json.loads((run / "summary.json").read_text())) >= SUMMARY_KEYS
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in records] == ["float", "float"]
    assert summary["float_accuracy"] == summary["final_accuracy"] > 0.3
    assert summary["mean_bits"] is None
    # Starting again in the same folder without --resume is refused.
    with pytest.raises(CheckpointError, match="already holds a checkpoint; pass --resume"):
        train(config)
    # A different config cannot resume it.
    changed = config.model_copy(update={"seed": 7})
    with pytest.raises(ConfigError, match="differs from the checkpoint's in seed"):
        train(changed, resume=True)


def test_float_checkpoint_is_reused(tmp_path: Path) -> None:
    first = TrainConfig.model_validate(
        {
            **TINY,
            "out": str(tmp_path / "a"),
            "phases": {"float": {"epochs": 1}, "learn": {"epochs": 0}, "finetune": {"epochs": 0}},
        }
    )
    summary = train(first)
    second = TrainConfig.model_validate(
        {
            **TINY,
            "out": str(tmp_path / "b"),
            "phases": {
                "float": {"checkpoint": str(tmp_path / "a" / "float_model.pt")},
                "learn": {"epochs": 0},
                "finetune": {"epochs": 0},
            },
        }
    )
    assert train(second)["float_accuracy"] == summary["float_accuracy"]
    state_a = torch.load(tmp_path / "a" / "model.pt")
    state_b = torch.load(tmp_path / "b" / "model.pt")
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    bad = second.model_copy(
        update={
            "phases": second.phases.model_copy(
                update={"float": second.phases.float.model_copy(update={"checkpoint": "nope.pt"})}
            )
        }
    )
    bad = bad.model_copy(update={"out": str(tmp_path / "c")})
    with pytest.raises(CheckpointError, match="float checkpoint 'nope.pt' does not exist"):
        train(bad)


def test_trace_section_captures_each_phase(tmp_path: Path) -> None:
    config = TrainConfig.model_validate(
        {
            **TINY,
            "out": str(tmp_path / "run"),
            "phases": {"float": {"epochs": 1}, "learn": {"epochs": 1}, "finetune": {"epochs": 0}},
            "trace": {"epochs": [1], "steps": "last", "ops": ["forward"]},
        }
    )
    train(config)
    from thrifty.trace import open_trace

    assert list(open_trace(tmp_path / "run" / "trace" / "float")) == []
    assert not (tmp_path / "run" / "trace" / "finetune").exists()
    entries = list(open_trace(tmp_path / "run" / "trace" / "learn"))
    assert {e.op for e in entries} == {"forward"} and {e.epoch for e in entries} == {1}
    assert {e.layer for e in entries} == {"conv1", "conv2", "fc1", "fc2"}
    with pytest.raises(ConfigError, match="trace"):
        parse_config(TrainConfig, {**config.model_dump(), "trace": {"epoch": [1]}}, "config")


def test_cifar_folder_with_resnet20_and_augmentation(tmp_path: Path) -> None:
    from tests.data.test_formats import make_cifar_folder

    make_cifar_folder(tmp_path / "cifar", per_batch=4, n_test=4)
    config = TrainConfig.model_validate(
        {
            "seed": 0,
            "device": "cpu",
            "out": str(tmp_path / "run"),
            "model": {"name": "resnet20"},
            "data": {"name": "cifar10", "root": str(tmp_path / "cifar"), "batch_size": 16},
            "phases": {"float": {"epochs": 1}, "learn": {"epochs": 1}, "finetune": {"epochs": 0}},
        }
    )
    summary = train(config)
    assert summary["data"]["augment"] is True and summary["data"]["shape"] == [3, 32, 32]
    assert len(summary["layers"]) == 22  # 19 3×3 convolutions, 2 shortcuts, the classifier


def test_given_data_and_model_are_the_ones_trained(tmp_path: Path) -> None:
    from dataclasses import replace

    from torch import nn

    from thrifty.data import Split, load_data
    from thrifty.quant import QuantLinear

    config = TrainConfig.model_validate({**TINY, "out": str(tmp_path / "run")})
    splits = load_data(config.data)
    # Keep two classes only: a run on the config's own data would see ten.
    keep = splits.train.labels < 2
    two = replace(
        splits,
        name="two digits",
        train=Split(splits.train.images[keep], splits.train.labels[keep]),
        test=Split(splits.train.images[keep], splits.train.labels[keep]),
        val=Split(splits.val.images[:0], splits.val.labels[:0]),
        num_classes=2,
    )
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    summary = train(config, data=two, model=model)
    assert summary["data"]["name"] == "two digits" and summary["data"]["train"] == int(keep.sum())
    assert isinstance(model[1], QuantLinear) and model[1].weight_quantizer.frozen
    assert [layer["name"] for layer in summary["layers"]] == ["1"]
    assert summary["final_accuracy"] > 0.9
