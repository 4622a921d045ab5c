"""Output-gradient rounding through a backward hook (thrifty.quant.gradient)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from thrifty.errors import ConfigError
from thrifty.quant.functional import mantissa_quantize
from thrifty.quant.gradient import quantize_gradients


def _weight_grad(model: nn.Linear, upstream: torch.Tensor) -> torch.Tensor:
    """dW of y = x·Wᵀ at x = I: exactly the output gradient G the layer's backward read (Gᵀ)."""
    model.zero_grad()
    model(torch.eye(model.in_features, requires_grad=True)).backward(upstream)
    return model.weight.grad.T.clone()


def test_seven_bits_equals_the_bfloat16_cast_of_the_gradient() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    upstream = torch.randn(4, 3) * torch.logspace(-20, 20, 12).reshape(4, 3)
    assert not torch.equal(_weight_grad(layer, upstream), upstream.bfloat16().float())
    handle = quantize_gradients(layer, bits=7)
    assert handle.bits == {}  # the root module has no name; wrap it to hook it
    handle.remove()
    model = nn.Sequential(layer)
    handle = quantize_gradients(model, bits=7)
    assert handle.bits == {"0": 7}
    assert torch.equal(_weight_grad(layer, upstream), upstream.bfloat16().float())
    handle.remove()
    assert torch.equal(_weight_grad(layer, upstream), upstream)


def test_per_layer_widths_round_each_layer_to_its_own_width() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 3))
    handle = quantize_gradients(model, bits=7, layers={"1": 2})
    assert handle.bits == {"0": 7, "1": 2}
    upstream = torch.randn(4, 3)
    model.zero_grad()
    x = torch.eye(4, requires_grad=True)
    hidden = model[0](x)
    model[1](hidden).backward(upstream)
    # Layer 1's weight gradient is G1ᵀ·hidden with G1 rounded to 2 fraction bits.
    g1 = mantissa_quantize(upstream, 2)
    assert torch.allclose(model[1].weight.grad, g1.T @ hidden.detach(), rtol=0, atol=1e-6)
    # Layer 0's output gradient is G1·W1 rounded to 7 bits.
    g0 = mantissa_quantize(g1 @ model[1].weight.detach(), 7)
    assert torch.allclose(model[0].weight.grad, g0.T, rtol=0, atol=1e-6)


def test_bad_widths_and_unknown_layers_are_config_errors() -> None:
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(ConfigError, match="outside"):
        quantize_gradients(model, bits=24)
    with pytest.raises(ConfigError, match="not conv/linear layers"):
        quantize_gradients(model, layers={"fc9": 3})
    with pytest.raises(ConfigError, match="integer"):
        quantize_gradients(model, bits=2.5)  # type: ignore[arg-type]
