"""Batch-norm re-estimation: plain averages of the batch statistics, nothing else touched."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

import thrifty
from tests.train._runs import TINY
from thrifty._config import parse_config
from thrifty.data import DataConfig, load_data, train_batches
from thrifty.errors import ConfigError
from thrifty.models import build_model
from thrifty.train import TrainConfig, train
from thrifty.train.batchnorm import reestimate_batchnorm
from thrifty.train.recipe import BN_FINAL


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(),
        nn.Linear(2 * 4 * 4, 3),
    )  # fmt: skip


def test_statistics_are_the_plain_average_of_the_batch_statistics() -> None:
    model = _model().train()
    norm = model[1]
    norm.momentum = 0.3
    batches = [
        torch.randn(4, 1, 6, 6, generator=torch.Generator().manual_seed(i)) for i in range(3)
    ]
    assert reestimate_batchnorm(model, batches) == 3
    # By hand: each batch's per-channel mean and unbiased variance of the convolution output
    # (the batch norm's input), averaged with equal weights.
    with torch.no_grad():
        outputs = [model[0](batch) for batch in batches]
    means = torch.stack([out.mean(dim=(0, 2, 3)) for out in outputs])
    variances = torch.stack([out.var(dim=(0, 2, 3), unbiased=True) for out in outputs])
    torch.testing.assert_close(norm.running_mean, means.mean(0))
    torch.testing.assert_close(norm.running_var, variances.mean(0))
    assert int(norm.num_batches_tracked) == 3
    # modes and momentum as they were
    assert norm.momentum == 0.3 and all(module.training for module in model.modules())


def test_quantizers_and_dropout_stay_in_evaluation_mode() -> None:
    model = thrifty.quantize(_model())
    model.train()
    model(torch.randn(4, 1, 6, 6))  # one training batch: the input ranges' moving averages
    quantizer = model[0].input_quantizer
    before = (quantizer.running_lo.clone(), quantizer.running_hi.clone())
    tracked = int(quantizer.num_batches_tracked)
    seen = []
    model[3].register_forward_hook(lambda module, args, out: seen.append(module.training))
    reestimate_batchnorm(model, [torch.randn(4, 1, 6, 6) * 10])
    assert seen == [False]  # dropout ran in evaluation mode
    assert int(quantizer.num_batches_tracked) == tracked
    assert torch.equal(quantizer.running_lo, before[0])
    assert torch.equal(quantizer.running_hi, before[1])
    assert model.training and quantizer.training


def test_no_batch_is_refused_before_anything_changes() -> None:
    model = _model()
    norm = model[1]
    norm.running_mean.fill_(0.5)
    with pytest.raises(ValueError, match="got no input batch"):
        reestimate_batchnorm(model, [])
    assert torch.equal(norm.running_mean, torch.full((2,), 0.5))


def test_a_model_without_batch_norm_is_left_alone() -> None:
    model = nn.Sequential(nn.Linear(3, 2))
    assert reestimate_batchnorm(model, iter([torch.randn(2, 3)])) == 0


@pytest.mark.usefixtures("one_torch_thread")
def test_recipe_reestimates_from_the_documented_batches_before_the_final_test(
    tmp_path: Path,
) -> None:
    run = {
        **TINY,
        "model": {"name": "resnet20"},
        "phases": {"float": {"epochs": 1}, "learn": {"epochs": 0}, "finetune": {"epochs": 1}},
        "batchnorm_reestimate": 2,
    }
    config = TrainConfig.model_validate({**run, "out": str(tmp_path / "run")})
    data = load_data(DataConfig.model_validate(TINY["data"]))
    summary = train(config, data=data)
    assert summary["batchnorm_reestimated_batches"] == 2
    final = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    # The same two batches through the final weights with other statistics give the saved ones.
    model = build_model("resnet20", num_classes=10, in_channels=1, image_size=8)
    model = thrifty.freeze(thrifty.quantize(model, config.quant))
    model.load_state_dict(final)
    scrambled = copy.deepcopy(model)
    for name, buffer in scrambled.named_buffers():
        if name.endswith(("running_mean", "running_var")):
            buffer.uniform_(0.5, 2.0)
    batches = train_batches(data.train, TINY["data"]["batch_size"], BN_FINAL, TINY["seed"])
    reestimate_batchnorm(scrambled, [images for images, _ in list(batches)[:2]])
    for (name, saved), (_, again) in zip(
        model.named_buffers(), scrambled.named_buffers(), strict=True
    ):
        if name.endswith(("running_mean", "running_var")):
            torch.testing.assert_close(again, saved, rtol=0, atol=0, msg=name)


def test_reestimation_without_a_quantized_phase_is_refused() -> None:
    phases = {"float": {"epochs": 1}, "learn": {"epochs": 0}, "finetune": {"epochs": 0}}
    with pytest.raises(ConfigError, match="this run has no quantized phase"):
        parse_config(TrainConfig, {**TINY, "phases": phases, "batchnorm_reestimate": 4}, "config")
