"""Training variants of `thrifty train`: pruning, per-layer float precision, gradient widths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.train._runs import TINY
from thrifty.errors import ConfigError
from thrifty.train import TrainConfig, load_train_config, train

FLOAT_ONLY = {"float": {"epochs": 2}, "learn": {"epochs": 0}, "finetune": {"epochs": 0}}


def _config(tmp_path: Path, **sections: Any) -> TrainConfig:
    return TrainConfig.model_validate({**TINY, "out": str(tmp_path / "run"), **sections})


def test_pruning_reaches_the_target_sparsity_and_is_permanent(tmp_path: Path) -> None:
    pruning = {"target_sparsity": 0.6, "begin_step": 0, "end_step": 8, "frequency": 2}
    summary = train(_config(tmp_path, phases=FLOAT_ONLY, pruning=pruning))
    sparsity = summary["weight_sparsity"]
    assert set(sparsity) == {"conv1", "conv2", "fc1", "fc2"}
    state = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert not any(key.endswith("weight_mask") for key in state)  # masks folded in
    for name, fraction in sparsity.items():
        weight = state[f"{name}.weight"]
        assert fraction == pytest.approx(0.6, abs=1 / weight.numel())
        assert float((weight == 0).float().mean()) == pytest.approx(fraction)


def test_pruning_with_quantized_phases_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="float phase only"):
        _config(tmp_path, pruning={"target_sparsity": 0.5})
    with pytest.raises(ValueError, match=r"(?s)pruning.*target_sparsity"):
        _config(tmp_path, phases=FLOAT_ONLY, pruning={"target_sparsity": 1.5})
    with pytest.raises(ConfigError, match="float phase only"):
        load_train_config(None, ["pruning.target_sparsity=0.5"])


def test_per_layer_float_precision_learns_fraction_bits_below_bfloat16(tmp_path: Path) -> None:
    quant = {"weight": {"kind": "float_mantissa"}, "activation": {"kind": "float_mantissa"}}
    phases = {"float": {"epochs": 1}, "learn": {"epochs": 2}, "finetune": {"epochs": 1}}
    summary = train(
        _config(
            tmp_path,
            quant=quant,
            phases=phases,
            regularizer={"criterion": "bits", "strength": 2.0},
            gradients={"bits": 7, "layers": {"fc2": 3}},
        )
    )
    bits = [(r["weight_bits"], r["activation_bits"]) for r in summary["layers"]]
    assert len(bits) == 4
    for weight_bits, activation_bits in bits:
        assert 0 <= weight_bits <= 7 and 0 <= activation_bits <= 7
        assert float(weight_bits).is_integer()  # frozen: rounded up to integers
    assert summary["mean_bits"] < 7  # the regularizer lowered them from bfloat16's 7
    assert summary["final_accuracy"] > 0.3


def test_gradient_widths_name_real_layers(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not conv/linear layers"):
        train(_config(tmp_path, phases=FLOAT_ONLY, gradients={"layers": {"fc9": 3}}))
    with pytest.raises(ValueError, match="gradients.bits"):
        _config(tmp_path, gradients={"bits": 30})
