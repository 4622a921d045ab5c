"""A first layer's input bitlength gets its gradient through the layer's product (leaf_input.py).

The layer output is the same bit for bit as through autograd, and dL/dn = ⟨G, P(gap, W)⟩ equals
Σ g·gap with g = dL/dx_q formed by autograd (the same layer with an input that requires grad),
by hand on a worked example and against autograd on convolutions and linear layers.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import thrifty
from thrifty.quant.config import QuantizerConfig
from thrifty.quant.leaf_input import takes_leaf_convolution
from thrifty.quant.modules import QuantLinear


def test_hand_worked_linear_input_bitlength_gradient(kernels) -> None:
    # x = [0, 1, 2, 3], range [0, 3], n = 1.5: b = 1, α = 0.5.
    # Q(x, 1): step 3 → codes round(x/3) = [0, 0, 1, 1] → [0, 0, 3, 3];
    # Q(x, 2): step 1 → [0, 1, 2, 3]; gap = [0, 1, −1, 0]; x_q = [0, 0.5, 2.5, 3].
    # out = x_q·W with W = [1, 2, 3, 4]: 0 + 1 + 7.5 + 12 = 20.5;
    # dL/dn = Σ W_i·gap_i = 2 − 3 = −1 (G = 1).
    linear = QuantLinear.from_float(
        nn.Linear(4, 1, bias=False),
        weight_config=QuantizerConfig(enabled=False),
        activation_config=QuantizerConfig(init_bits=1.5, min_bits=1),
    )
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    x = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    assert linear.input_quantizer.takes_leaf_path(x)
    out = linear(x)
    assert out.item() == 20.5
    out.sum().backward()
    assert linear.input_quantizer.bitlength.grad.item() == -1.0


def _quantized(layer: nn.Module) -> nn.Module:
    """A quantized copy of `layer` (its own parameters) with every bitlength at 3.4."""
    quantized = thrifty.quantize(nn.Sequential(copy.deepcopy(layer)))
    with torch.no_grad():
        for quantizer in quantized.modules():
            if hasattr(quantizer, "bitlength"):
                quantizer.bitlength.fill_(3.4)
    return quantized


CASES = {
    "conv_1_channel": (lambda: nn.Conv2d(1, 5, 3, padding=1), (4, 1, 9, 9)),
    "conv_1_channel_strided_dilated_no_bias": (
        lambda: nn.Conv2d(1, 4, 3, stride=2, dilation=2, padding=(1, 2), bias=False),
        (3, 1, 12, 11)),
    "conv1d_1_channel_valid": (lambda: nn.Conv1d(1, 3, 4, padding="valid"), (2, 1, 13)),
    "conv_1_channel_reflect": (lambda: nn.Conv2d(1, 3, 3, padding=1, padding_mode="reflect"),
                               (2, 1, 7, 7)),
    "conv_3_channels_strided": (lambda: nn.Conv2d(3, 4, 3, stride=2, bias=False), (2, 3, 11, 11)),
    "conv_reflect_padding": (lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"),
                             (2, 2, 7, 7)),
    "conv1d_grouped": (lambda: nn.Conv1d(4, 6, 3, groups=2), (3, 4, 10)),
    "conv_dilated_valid": (lambda: nn.Conv2d(2, 3, 3, dilation=2, padding="valid"),
                           (2, 2, 9, 9)),
    "conv_same_padding": (lambda: nn.Conv2d(2, 3, 3, dilation=2, padding="same"), (2, 2, 8, 8)),
    "conv_circular_strided": (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=2,
                                                padding_mode="circular"), (2, 2, 9, 9)),
    "linear_batched": (lambda: nn.Linear(7, 3), (2, 5, 7)),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_leaf_path_matches_autograd_through_the_input(kernels, case: str) -> None:
    make, shape = CASES[case]
    torch.manual_seed(1)
    layer = make()
    x = torch.randn(shape) * 2
    grads, outs = {}, {}
    for route in ("leaf", "autograd"):
        model = _quantized(layer)
        inner = model[0]
        inputs = x.clone().requires_grad_(route == "autograd")
        assert inner.input_quantizer.takes_leaf_path(inputs) == (route == "leaf")
        out = model(inputs)
        upstream = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
        out.backward(upstream)
        outs[route] = out.detach()
        grads[route] = {
            "input_bits": inner.input_quantizer.bitlength.grad.clone(),
            "weight_bits": inner.weight_quantizer.bitlength.grad.clone(),
            "weight": inner.weight.grad.clone(),
            "bias": None if inner.bias is None else inner.bias.grad.clone(),
        }
    assert torch.equal(outs["leaf"], outs["autograd"])
    leaf, reference = grads["leaf"], grads["autograd"]
    assert reference["input_bits"].abs().item() > 1e-3  # a gradient worth comparing
    torch.testing.assert_close(leaf["input_bits"], reference["input_bits"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(leaf["weight_bits"], reference["weight_bits"])
    torch.testing.assert_close(leaf["weight"], reference["weight"])
    torch.testing.assert_close(leaf["bias"], reference["bias"])


def test_an_in_place_activation_after_the_layer_is_allowed() -> None:
    model = thrifty.quantize(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True)))
    x = torch.randn(2, 1, 6, 6)
    assert model[0].input_quantizer.takes_leaf_path(x)
    model(x).sum().backward()
    assert model[0].input_quantizer.bitlength.grad is not None


def test_which_convolutions_form_the_bits_gradient_in_their_own_node() -> None:
    assert takes_leaf_convolution(nn.Conv2d(1, 4, 3, padding=1))
    assert takes_leaf_convolution(nn.Conv1d(1, 4, 3, padding="valid"))
    assert takes_leaf_convolution(nn.Conv2d(3, 4, 3))
    assert not takes_leaf_convolution(nn.Conv2d(4, 4, 3, groups=2))
    assert not takes_leaf_convolution(nn.Conv2d(1, 4, 3, padding="same"))
    assert not takes_leaf_convolution(nn.Conv2d(1, 4, 3, padding=1, padding_mode="reflect"))
    assert not takes_leaf_convolution(nn.Linear(1, 4))


def test_other_inputs_keep_the_autograd_path() -> None:
    layer = QuantLinear.from_float(
        nn.Linear(4, 2),
        activation_config=QuantizerConfig(granularity="channel"),
    )
    x = torch.randn(3, 4)
    assert not layer.input_quantizer.takes_leaf_path(x)  # one bitlength per channel
    tensor_wise = QuantLinear.from_float(nn.Linear(4, 2))
    assert not tensor_wise.input_quantizer.takes_leaf_path(x.requires_grad_(True))
    with torch.no_grad():
        assert not tensor_wise.input_quantizer.takes_leaf_path(x.detach())
    tensor_wise.input_quantizer.freeze_()
    assert not tensor_wise.input_quantizer.takes_leaf_path(x.detach())
