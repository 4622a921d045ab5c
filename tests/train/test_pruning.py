"""Gradual magnitude pruning: cubic schedule, exact sparsity, persistent masks, state, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from thrifty._config import parse_config
from thrifty.errors import CheckpointError, ConfigError
from thrifty.train.pruning import (
    MagnitudePruner,
    PruningConfig,
    is_pruning_step,
    make_permanent,
    prunable_modules,
    scheduled_activation_sparsity,
    scheduled_sparsity,
)


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1d = nn.Conv1d(2, 3, kernel_size=3)
        self.conv = nn.Conv2d(1, 4, kernel_size=3)
        self.fc = nn.Linear(4 * 4 * 4, 5)
        self.norm = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.norm(self.conv(x))).flatten(1))


class _QuantLikeLinear(nn.Linear):
    """Stands for a thrifty quantized module: a subclass of its float module."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, torch.round(self.weight * 8) / 8, self.bias)


def _config(**overrides) -> PruningConfig:
    base = {"target_sparsity": 0.8, "begin_step": 10, "end_step": 50, "frequency": 10}
    return PruningConfig(**{**base, **overrides})


def _train_steps(model, pruner, steps, start=0):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    for step in range(start, start + steps):
        x = torch.randn(3, 1, 6, 6)
        loss = model(x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        pruner.step(step)


def test_schedule_matches_zhu_gupta_formula_exactly() -> None:
    config = _config(initial_sparsity=0.1, target_sparsity=0.9, begin_step=20, end_step=120)
    for step in range(0, 200, 7):
        if step < 20:
            expected = 0.0
        elif step >= 120:
            expected = 0.9
        else:
            expected = 0.9 + (0.1 - 0.9) * (1 - (step - 20) / 100) ** 3
        assert scheduled_sparsity(step, config) == expected
    assert scheduled_sparsity(20, config) == pytest.approx(0.1, abs=1e-15)
    assert scheduled_sparsity(120, config) == 0.9
    assert scheduled_sparsity(19, config) == 0.0


def test_activation_schedule_rises_from_zero() -> None:
    config = _config(activation_sparsity=0.4)
    assert scheduled_activation_sparsity(10, config) == 0.0
    assert scheduled_activation_sparsity(30, config) == 0.4 - 0.4 * 0.5**3
    assert scheduled_activation_sparsity(99, config) == 0.4


def test_pruning_steps_include_end_step_when_not_a_multiple() -> None:
    config = _config(begin_step=3, end_step=20, frequency=5)
    assert [s for s in range(30) if is_pruning_step(s, config)] == [3, 8, 13, 18, 20]


def test_finds_conv1d_conv2d_linear_and_subclasses() -> None:
    model = nn.Sequential(nn.Conv1d(1, 1, 1), nn.ReLU(), _QuantLikeLinear(2, 2), nn.Conv2d(1, 1, 1))
    assert [name for name, _ in prunable_modules(model)] == ["0", "2", "3"]


@pytest.mark.parametrize("step", [10, 30, 50])
def test_layer_scope_reaches_exact_sparsity_per_layer(step: int) -> None:
    model = _Tiny()
    pruner = MagnitudePruner(model, _config())
    for s in range(step + 1):
        pruner.step(s)
    target = scheduled_sparsity(step, pruner.config)
    for name, module in prunable_modules(model):
        n = module.weight.numel()
        assert int((module.weight_mask == 0).sum()) == round(target * n), name
        assert pruner.layer_sparsity()[name] == round(target * n) / n


def test_layer_scope_prunes_the_smallest_magnitudes() -> None:
    model = nn.Linear(10, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[5.0, -1.0, 3.0, -0.5, 2.0, 9.0, -7.0, 0.1, 4.0, 6.0]]))
    pruner = MagnitudePruner(model, _config(target_sparsity=0.4, begin_step=0, end_step=1))
    pruner.step(1)
    kept = model.weight_mask[0].bool()
    expected = torch.tensor([0.1, 0.5, 1.0, 2.0])
    assert torch.equal(model.weight_orig[0][~kept].abs().sort().values, expected)


def test_global_scope_reaches_exact_total_and_ranks_across_layers() -> None:
    model = _Tiny()
    with torch.no_grad():
        model.conv.weight.mul_(100.0)  # conv weights dominate: the others are pruned first
    pruner = MagnitudePruner(model, _config(scope="global", target_sparsity=0.5))
    for s in range(60):
        pruner.step(s)
    total = sum(m.weight.numel() for _, m in prunable_modules(model))
    zeros = sum(int((m.weight_mask == 0).sum()) for _, m in prunable_modules(model))
    assert zeros == round(0.5 * total)
    assert pruner.global_sparsity() == zeros / total
    assert pruner.layer_sparsity()["conv"] == 0.0


def test_masks_keep_pruned_weights_zero_through_optimizer_steps() -> None:
    model = _Tiny()
    pruner = MagnitudePruner(model, _config())
    _train_steps(model, pruner, 80)
    for _, module in prunable_modules(model):
        masked = module.weight_mask == 0
        assert masked.any()
        assert torch.count_nonzero((module.weight_orig * module.weight_mask)[masked]) == 0
    model(torch.randn(1, 1, 6, 6))  # the forward re-applies the mask to `weight`
    assert pruner.layer_sparsity()["fc"] == round(0.8 * 320) / 320
    assert torch.count_nonzero(model.fc.weight[model.fc.weight_mask == 0]) == 0


def test_quantized_subclass_is_pruned_and_its_forward_sees_the_mask() -> None:
    model = nn.Sequential(_QuantLikeLinear(8, 4, bias=False))
    pruner = MagnitudePruner(model, _config(target_sparsity=0.5, begin_step=0, end_step=1))
    pruner.step(1)
    out = model(torch.eye(8))  # row i of the output is column i of the (quantized) weight
    zero_cols = (model[0].weight_mask == 0).T
    assert torch.count_nonzero(out[zero_cols]) == 0
    assert pruner.layer_sparsity() == {"0": 0.5}


def test_make_permanent_folds_masks_into_plain_weights() -> None:
    model = _Tiny()
    pruner = MagnitudePruner(model, _config())
    _train_steps(model, pruner, 60)
    before = {n: (m.weight_orig * m.weight_mask).detach() for n, m in prunable_modules(model)}
    assert make_permanent(model) == 3
    keys = set(model.state_dict())
    assert "fc.weight" in keys and not any(k.endswith(("_orig", "_mask")) for k in keys)
    for name, module in prunable_modules(model):
        assert isinstance(module.weight, nn.Parameter)
        torch.testing.assert_close(module.weight.detach(), before[name], atol=0, rtol=0)
    assert make_permanent(model) == 0


def test_state_round_trip_resumes_identically() -> None:
    torch.manual_seed(1)
    reference = _Tiny()
    resumed = _Tiny()
    resumed.load_state_dict(reference.state_dict())
    config = _config()
    ref_pruner = MagnitudePruner(reference, config)
    torch.manual_seed(2)
    _train_steps(reference, ref_pruner, 30)
    state = ref_pruner.state_dict()
    model_state = {key: value.clone() for key, value in reference.state_dict().items()}
    torch.manual_seed(3)
    _train_steps(reference, ref_pruner, 30, start=30)

    pruner = MagnitudePruner(resumed, config)
    pruner.load_state_dict(state)
    resumed.load_state_dict(model_state)
    assert pruner.last_step == 29
    torch.manual_seed(3)
    _train_steps(resumed, pruner, 30, start=30)
    for (name, a), (_, b) in zip(
        prunable_modules(reference), prunable_modules(resumed), strict=True
    ):
        torch.testing.assert_close(a.weight_mask, b.weight_mask, atol=0, rtol=0, msg=name)
        torch.testing.assert_close(a.weight_orig, b.weight_orig, atol=0, rtol=0, msg=name)


def test_state_errors_name_the_problem() -> None:
    pruner = MagnitudePruner(_Tiny(), _config())
    pruner.step(10)
    state = pruner.state_dict()
    with pytest.raises(CheckpointError, match="version 7 is not supported"):
        MagnitudePruner(_Tiny(), _config()).load_state_dict({**state, "version": 7})
    with pytest.raises(CheckpointError, match="build the pruner with the saved config"):
        MagnitudePruner(_Tiny(), _config(target_sparsity=0.3)).load_state_dict(state)
    other = nn.Module()
    other.fc = nn.Linear(64, 5)
    with pytest.raises(CheckpointError, match=r"masks for layers \['conv', 'conv1d'\]"):
        MagnitudePruner(other, _config()).load_state_dict(state)


def test_activation_sparsity_zeroes_smallest_inputs_per_example() -> None:
    seen = {}
    model = nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 2))
    config = _config(activation_sparsity=0.3, begin_step=0, end_step=1, target_sparsity=0.0)
    pruner = MagnitudePruner(model, config)
    # Registered after the pruner's hook, so it sees the sparsified input.
    model[1].register_forward_pre_hook(lambda m, i: seen.update(x=i[0].detach().clone()))
    pruner.step(1)
    x = torch.randn(4, 10, requires_grad=True)
    model(x).sum().backward()
    assert (seen["x"] == 0).sum(dim=1).tolist() == [3, 3, 3, 3]
    assert x.grad is not None  # the model input is left dense: the first layer has no hook
    pruner.remove_activation_hooks()
    model(x)
    assert (seen["x"] == 0).sum() == 0


def test_activation_sparsity_can_include_the_model_input() -> None:
    model = nn.Sequential(nn.Linear(10, 1, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    config = _config(
        activation_sparsity=0.5,
        target_sparsity=0.0,
        begin_step=0,
        end_step=1,
        sparsify_model_input=True,
    )
    pruner = MagnitudePruner(model, config)
    pruner.step(1)
    x = torch.tensor([[1.0, -2.0, 3.0, -4.0, 5.0, -6.0, 7.0, -8.0, 9.0, -10.0]])
    # The five smallest |x| (1..5) are zeroed; the weights are all ones and unpruned.
    assert model(x).item() == -6.0 + 7.0 - 8.0 + 9.0 - 10.0


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"target_sparsity": 1.0}, r"target_sparsity: Input should be less than 1"),
        ({"target_sparsity": -0.1}, r"target_sparsity: Input should be greater than or equal"),
        ({"initial_sparsity": 0.9}, r"initial_sparsity 0.9 exceeds target_sparsity 0.8"),
        ({"end_step": 10}, r"end_step 10 must be after begin_step 10"),
        ({"frequency": 0}, r"frequency: Input should be greater than or equal to 1"),
        ({"scope": "tensor"}, r"scope: Input should be 'layer' or 'global'"),
        ({"target": 0.5}, r"unknown key 'target'"),
    ],
)
def test_bad_configs_raise_config_error(overrides, match) -> None:
    with pytest.raises(ConfigError, match=match):
        _config(**overrides)
    with pytest.raises(ConfigError, match=match):
        parse_config(PruningConfig, {**_config().model_dump(), **overrides}, "pruning")


def test_model_without_prunable_layers_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ReLU has no Conv1d, Conv2d or Linear layer to prune"):
        MagnitudePruner(nn.ReLU(), _config())
