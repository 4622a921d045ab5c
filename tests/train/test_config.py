"""The training config: YAML, `--set` overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from thrifty._config import apply_overrides, parse_override
from thrifty.errors import ConfigError
from thrifty.train.config import load_train_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_defaults_are_valid() -> None:
    config = load_train_config()
    assert config.model.name == "small_cnn" and config.data.name == "digits"
    assert config.phases.finetune.epochs == 2


def test_overrides_parse_yaml_scalars(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\nphases:\n  learn: {epochs: 4}\n")
    config = load_train_config(
        path,
        [
            "phases.learn.epochs=7",
            "regularizer.target=4.0",
            "data.fallback=digits",
            "phases.float.checkpoint=null",
            "quant.weight.granularity=channel",
        ],
        out="runs/x",
    )
    assert config.seed == 3 and config.phases.learn.epochs == 7
    assert config.regularizer.target == 4.0 and config.data.fallback == "digits"
    assert config.quant.weight.granularity.kind == "channel" and config.out == "runs/x"
    assert parse_override("a.b=true") == (["a", "b"], True)
    assert parse_override("a=0.5") == (["a"], 0.5)


def test_unknown_key_and_wrong_type_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'phases.lern'"):
        load_train_config(None, ["phases.lern.epochs=3"])
    with pytest.raises(ConfigError, match="optimizer.lr: Input should be greater than 0"):
        load_train_config(None, ["optimizer.lr=-1"])
    with pytest.raises(ConfigError, match="seed: Input should be a valid integer"):
        load_train_config(None, ["seed=abc"])
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_train_config(None, ["seed"])
    with pytest.raises(ConfigError, match="'seed' is a value, not a section"):
        apply_overrides({"seed": 1}, ["seed.x=2"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_train_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("name", ["digits.yaml", "fashion_mnist.yaml", "fashion_mnist_vit.yaml"])
def test_examples_validate(name: str) -> None:
    config = load_train_config(EXAMPLES / name)
    assert config.phases.learn.epochs > 0 and config.phases.finetune.epochs > 0
