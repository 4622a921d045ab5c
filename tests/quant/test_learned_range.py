"""Learned quantization ranges (range="learned"): the LSQ-style gradient, checked by hand.

The forward at the initial range equals the min–max quantizer exactly; the range's gradient is
LSQ's (round(v) − v inside, the clip bound outside, scaled by 1/sqrt(N·L)); the bitlength's
gradient is still Q(x, b+1) − Q(x, b); the option round-trips through save/load and a wrong
kind is refused with a message that says what to do.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

import thrifty
from thrifty.quant.learned_range import learned_range_quantize

LEARNED = {"weight": {"range": "learned"}, "activation": {"range": "learned"}}


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_hand_worked_gradient() -> None:
    # lo = 0, hi = 1, b = 2: L = 3, s = 1/3, v = 3x = [-0.6, 0.9, 1.5, 4.2],
    # round (half to even) [-1, 1, 2, 4], clamped codes [0, 1, 2, 3].
    x = torch.tensor([-0.2, 0.3, 0.5, 1.4], requires_grad=True)
    lo = torch.tensor(0.0, requires_grad=True)
    hi = torch.tensor(1.0, requires_grad=True)
    out = learned_range_quantize(x, torch.tensor(2.0), lo, hi)
    torch.testing.assert_close(out, torch.tensor([0.0, 1 / 3, 2 / 3, 1.0]))
    out.sum().backward()
    # inside values: dQ/ds = round(v) − v = 0.1 and 0.5; ds/dhi = 1/L, ds/dlo = −1/L.
    # clipped high: Q = hi (dQ/dhi = 1); clipped low: Q = lo (dQ/dlo = 1). LSQ's scale:
    # 1/sqrt(4 values · L = 3).
    scale = 1 / math.sqrt(12)
    torch.testing.assert_close(hi.grad, torch.tensor((0.6 / 3 + 1.0) * scale))
    torch.testing.assert_close(lo.grad, torch.tensor((1.0 - 0.6 / 3) * scale))
    # straight-through inside, zero outside the range (PACT's clip gradient)
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 1.0, 1.0, 0.0]), atol=0, rtol=0)


def test_bitlength_gradient_is_the_level_difference() -> None:
    torch.manual_seed(1)
    x = torch.randn(50)
    lo, hi = torch.tensor(-1.5), torch.tensor(2.0)
    n = torch.tensor(3.25, requires_grad=True)
    grad_out = torch.randn(50)
    out = learned_range_quantize(x, n, lo, hi)
    (out * grad_out).sum().backward()
    low = learned_range_quantize(x, torch.tensor(3.0), lo, hi)
    high = learned_range_quantize(x, torch.tensor(4.0), lo, hi)
    torch.testing.assert_close(out, low + 0.25 * (high - low))
    torch.testing.assert_close(n.grad, (grad_out * (high - low)).sum())


def test_starts_equal_to_min_max() -> None:
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    reference = thrifty.quantize(_model())
    learned = thrifty.quantize(_model(), thrifty.QuantConfig.model_validate(LEARNED))
    for model in (reference, learned):
        with torch.no_grad():
            model[0].weight_quantizer.bitlength.fill_(3.4)
    torch.testing.assert_close(learned(x), reference(x), atol=0, rtol=0)
    w = learned[0].weight.detach()
    torch.testing.assert_close(learned[0].weight_quantizer.range_lo, w.min(), atol=0, rtol=0)
    torch.testing.assert_close(learned[0].weight_quantizer.range_hi, w.max(), atol=0, rtol=0)


def test_range_parameters_train_and_round_trip(tmp_path) -> None:
    model = thrifty.quantize(_model(), thrifty.QuantConfig.model_validate(LEARNED))
    groups = thrifty.param_groups(model, lr=1e-2)
    weight_ids = {id(p) for p in groups[0]["params"]}
    quantizer = model[0].weight_quantizer
    assert id(quantizer.range_hi) in weight_ids and id(quantizer.range_lo) in weight_ids
    before = quantizer.range_hi.detach().clone()
    optimizer = torch.optim.Adam(groups)
    generator = torch.Generator().manual_seed(3)
    for _ in range(3):
        x = torch.randn(8, 1, 8, 8, generator=generator)
        loss = model(x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert not torch.equal(quantizer.range_hi.detach(), before)
    thrifty.freeze(model)
    path = thrifty.save(model, tmp_path / "model.pt")
    loaded = thrifty.load(_model(), path)
    x = torch.randn(4, 1, 8, 8, generator=generator)
    model.eval(), loaded.eval()
    torch.testing.assert_close(loaded(x), model(x), atol=0, rtol=0)


def test_symmetric_learned_range_matches_min_max_at_start() -> None:
    config = {"weight": {"kind": "int_symmetric", "range": "learned", "init_bits": 4}}
    reference_config = {"weight": {"kind": "int_symmetric", "init_bits": 4}}
    for extra in (config, reference_config):
        extra["activation"] = {"enabled": False}
    learned = thrifty.quantize(_model(), thrifty.QuantConfig.model_validate(config))
    reference = thrifty.quantize(_model(), thrifty.QuantConfig.model_validate(reference_config))
    w = learned[0].weight
    torch.testing.assert_close(
        learned[0].weight_quantizer(w), reference[0].weight_quantizer(copy.deepcopy(w))
    )


def test_float_mantissa_cannot_learn_a_range() -> None:
    with pytest.raises(ValueError, match="range='learned' needs an integer kind"):
        thrifty.QuantConfig.model_validate(
            {"weight": {"kind": "float_mantissa", "range": "learned"}}
        )


def test_export_refuses_a_learned_range() -> None:
    from thrifty.errors import ExportError
    from thrifty.export.params import deployment_copy

    model = thrifty.quantize(_model(), thrifty.QuantConfig.model_validate(LEARNED))
    model(torch.randn(2, 1, 8, 8))  # a training batch sets the input ranges
    thrifty.freeze(model)
    with pytest.raises(ExportError, match="range='learned'.*quantize with range='minmax'"):
        deployment_copy(model)
