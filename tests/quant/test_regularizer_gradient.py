"""The regularizer's gradient on each bitlength, against a hand count of the `bits` criterion.

cost = mean over quantized tensors of their mean bitlength, so with k quantized tensors and a
bitlength of P values, d(λ·cost)/dn = λ / (k·P) for each value: the difference between the
gradients with and without the penalty, whatever the task loss gives.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import thrifty


def _grads(model: nn.Module, x: torch.Tensor, reg=None) -> list[torch.Tensor]:
    model.zero_grad()
    loss = model(x).square().sum()
    if reg is not None:
        loss = loss + reg()
    loss.backward()
    return [p.grad.clone() for name, p in model.named_parameters() if name.endswith("bitlength")]


@pytest.mark.parametrize(("granularity", "values"), [("tensor", 1), ("channel", None)])
def test_penalty_gradient_is_lambda_over_tensors_and_values(granularity, values) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    config = thrifty.QuantConfig.model_validate(
        {"weight": {"granularity": granularity}, "activation": {"granularity": granularity}}
    )
    model = thrifty.quantize(net, config)
    x = torch.randn(4, 6)
    plain = _grads(model, x)
    reg = thrifty.BitlengthRegularizer(model, criterion="bits", strength=0.3)
    penalised = _grads(model, x, reg)
    # 2 layers x (weight, input) = 4 quantized tensors. Per channel, the bitlength holds: layer 0
    # weight 5 (out channels), input 6 (features); layer 2 weight 3, input 5.
    sizes = [1, 1, 1, 1] if values == 1 else [5, 6, 3, 5]
    params = [n for n, _ in model.named_parameters() if n.endswith("bitlength")]
    assert len(params) == 4
    by_name = dict(zip(params, zip(plain, penalised, strict=True), strict=True))
    expected_size = {
        "0.weight_quantizer.bitlength": sizes[0],
        "0.input_quantizer.bitlength": sizes[1],
        "2.weight_quantizer.bitlength": sizes[2],
        "2.input_quantizer.bitlength": sizes[3],
    }
    for name, (g0, g1) in by_name.items():
        size = expected_size[name]
        assert g0.numel() == size, name
        want = torch.full_like(g0, 0.3 / (4 * size))
        torch.testing.assert_close(g1 - g0, want, rtol=1e-5, atol=1e-7, msg=name)
