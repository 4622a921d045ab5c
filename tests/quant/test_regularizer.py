"""BitlengthRegularizer: each criterion against an independent count, λ, callable criteria,
and target mode reaching its target."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import thrifty
from thrifty.errors import ConfigError, QuantizationError


def _model(granularity="tensor") -> nn.Module:
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    config = thrifty.QuantConfig.model_validate(
        {"weight": {"granularity": granularity}, "activation": {"granularity": granularity}}
    )
    thrifty.quantize(model, config)
    bits = {("0", "w"): 3.0, ("0", "a"): 5.0, ("3", "w"): 6.0, ("3", "a"): 7.0}
    with torch.no_grad():
        for (layer, role), value in bits.items():
            quantizer = model.get_submodule(layer)
            quantizer = quantizer.weight_quantizer if role == "w" else quantizer.input_quantizer
            quantizer.bitlength.fill_(value)
    model(torch.randn(5, 2, 6, 6))
    return model


@pytest.mark.parametrize("granularity", ["tensor", "channel"])
def test_each_criterion_matches_an_independent_count(granularity) -> None:
    model = _model(granularity)
    # conv: weight 4·2·3·3 = 72, input 2·6·6 = 72 per sample, MACs 4·4·4 outputs × 18
    # linear: weight 64·3 = 192, input 64, MACs 3 × 64 = 192
    expected = {
        "bits": (3 + 5 + 6 + 7) / 4,
        "memory": (72 * 3 + 72 * 5 + 192 * 6 + 64 * 7) / (72 + 72 + 192 + 64),
        "bitops": (1152 * 3 * 5 + 192 * 6 * 7) / (1152 + 192),
    }
    for criterion, value in expected.items():
        regularizer = thrifty.BitlengthRegularizer(model, criterion, strength=0.5)
        penalty = regularizer()
        assert regularizer.cost == pytest.approx(value)
        assert penalty.item() == pytest.approx(0.5 * value)
    summary = thrifty.summary(model)
    assert summary.memory_weighted_bits == pytest.approx(expected["memory"])
    assert summary.bitops == pytest.approx(1152 * 15 + 192 * 42)


def test_bits_gradient_is_the_criterion_weight() -> None:
    model = _model()
    regularizer = thrifty.BitlengthRegularizer(model, "memory", strength=2.0)
    regularizer().backward()
    assert model[0].weight_quantizer.bits.grad.item() == pytest.approx(2.0 * 72 / 400)
    assert model[3].input_quantizer.bits.grad.item() == pytest.approx(2.0 * 64 / 400)


def test_callable_criterion_gets_the_records() -> None:
    model = _model()
    regularizer = thrifty.BitlengthRegularizer(
        model, lambda records: max(r.weight_bits for r in records), strength=1.0
    )
    assert regularizer().item() == 6.0


def test_bad_arguments() -> None:
    model = _model()
    with pytest.raises(ConfigError, match="unknown regularizer criterion 'size'"):
        thrifty.BitlengthRegularizer(model, "size")
    with pytest.raises(ConfigError, match="target=-1"):
        thrifty.BitlengthRegularizer(model, target=-1)
    with pytest.raises(QuantizationError, match="no quantized layer"):
        thrifty.BitlengthRegularizer(nn.Linear(2, 2))
    fresh = thrifty.quantize(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(QuantizationError, match="forward pass"):
        thrifty.BitlengthRegularizer(fresh, "bitops")()


def test_target_mode_reaches_the_target_mean_bits() -> None:
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x[:, :4].sum(1) > 0).long()
    model = thrifty.quantize(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)))
    regularizer = thrifty.BitlengthRegularizer(model, "bits", strength=0.0, target=4.0)
    optimizer = torch.optim.Adam(thrifty.param_groups(model, lr=1e-3, bits_lr=0.05))
    costs = []
    for _ in range(250):
        loss = nn.functional.cross_entropy(model(x), y) + regularizer()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        costs.append(regularizer.cost)
    tail = costs[-50:]
    assert abs(sum(tail) / len(tail) - 4.0) < 0.25, tail[-5:]
    assert max(costs) > 7.5  # it started at 8 and came down


def _stall_run(bits_lr: float, steps: int, check_after: int | None = 20, **kwargs) -> list:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    thrifty.quantize(model)
    regularizer = thrifty.BitlengthRegularizer(model, check_after=check_after, **kwargs)
    optimizer = torch.optim.SGD(thrifty.param_groups(model, lr=0.01, bits_lr=bits_lr))
    x, y = torch.randn(8, 2, 6, 6), torch.randint(0, 3, (8,))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(steps):
            loss = nn.functional.cross_entropy(model(x), y) + regularizer()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return [w for w in caught if issubclass(w.category, thrifty.BitlengthsNotLearningWarning)]


def test_stalled_bitlengths_warn_once_with_the_fix() -> None:
    # SGD at a tiny bitlength rate: λ/8 per bit · 1e-4 per step moves nothing in 40 steps.
    caught = _stall_run(bits_lr=1e-4, steps=40)
    assert len(caught) == 1
    assert "moved at most" in str(caught[0].message)
    assert "bits_lr=" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller's line


def test_moving_bitlengths_do_not_warn() -> None:
    # SGD at rate 100: 100 · 0.05/8 ≈ 0.6 bit per step from the regularizer alone.
    assert _stall_run(bits_lr=100.0, steps=40) == []


def test_stall_check_is_off_with_none_or_no_pull() -> None:
    assert _stall_run(bits_lr=1e-4, steps=40, check_after=None) == []
    assert _stall_run(bits_lr=1e-4, steps=40, strength=0.0) == []
    # Target mode with the cost already below the target: nothing to pull down.
    assert _stall_run(bits_lr=1e-4, steps=40, target=9.0) == []
    with pytest.raises(ConfigError, match="check_after=0 must be a positive"):
        _stall_run(bits_lr=1e-4, steps=1, check_after=0)
