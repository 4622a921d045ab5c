"""Each quantizer option changes the numbers it claims to change, checked against hand values.

kind (int / int_symmetric / float_mantissa), the float_mantissa width k, and the regularizer's
criterion (bits / memory / bitops) on a two-layer model whose bitlengths are set by hand.
Granularity is covered value by value in test_granularity_values.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import thrifty

WEIGHT = torch.tensor([[-1.0, 0.5, 3.0]])


def _quantized_weight(**weight_options) -> torch.Tensor:
    layer = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(WEIGHT)
    config = thrifty.QuantConfig.model_validate(
        {"weight": weight_options, "activation": {"enabled": False}}
    )
    model = thrifty.quantize(nn.Sequential(layer), config)
    return model[0].weight_quantizer(model[0].weight).detach()


def test_kind_int_vs_int_symmetric() -> None:
    # int, 3 bits, range [-1, 3]: step 4/7; codes round((x + 1) * 7/4): 0, round(2.625) = 3, 7.
    step = torch.tensor(4.0) / 7  # float32 arithmetic, in the formula's order
    want = torch.tensor([[0.0, 3.0, 7.0]]) * step + -1.0
    torch.testing.assert_close(_quantized_weight(kind="int", init_bits=3), want, atol=0, rtol=0)
    # int_symmetric, 3 bits: scale max(|-1|, 3) = 3, 2**2 - 1 = 3 levels: step 1, codes
    # round(x): -1, round(0.5) = 0 (ties to even), 3.
    got = _quantized_weight(kind="int_symmetric", init_bits=3)
    torch.testing.assert_close(got, torch.tensor([[-1.0, 0.0, 3.0]]), atol=0, rtol=0)


@pytest.mark.parametrize(
    ("k", "want"),
    [
        # x = 1 + 2**-4 + 2**-6 = 1.000101b
        (3, 1.125),  # 1.000|101: the rest .101 > half -> up to 1.001b
        (4, 1.0625),  # 1.0001|01: .01 < half -> 1.0001b
        (5, 1.0625),  # 1.00010|1: a tie -> even (last kept bit 0) -> 1.00010b
        (6, 1 + 2.0**-4 + 2.0**-6),  # exact
    ],
)
def test_float_mantissa_width_k(k: int, want: float) -> None:
    layer = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1 + 2.0**-4 + 2.0**-6)
    config = thrifty.QuantConfig.model_validate(
        {
            "weight": {"kind": "float_mantissa", "init_bits": k},
            "activation": {"enabled": False},
        }
    )
    model = thrifty.quantize(nn.Sequential(layer), config)
    assert model[0].weight_quantizer(model[0].weight).item() == want


def _two_layers() -> nn.Module:
    torch.manual_seed(0)
    model = thrifty.quantize(nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)))
    model(torch.randn(2, 6))  # the shapes (input elements, MACs) come from a forward pass
    bits = {"0": (4.0, 6.0), "2": (2.0, 8.0)}  # (weight, activation) per layer
    for name, (w, a) in bits.items():
        with torch.no_grad():
            model.get_submodule(name).weight_quantizer.bitlength.fill_(w)
            model.get_submodule(name).input_quantizer.bitlength.fill_(a)
    return model


@pytest.mark.parametrize(
    ("criterion", "want"),
    [
        # four tensors: (4 + 6 + 2 + 8) / 4
        ("bits", 5.0),
        # elements: weights 30 and 15, per-sample inputs 6 and 5:
        # (4*30 + 6*6 + 2*15 + 8*5) / (30 + 6 + 15 + 5) = 226 / 56
        ("memory", 226 / 56),
        # MACs per sample 30 and 15: (30 * 4 * 6 + 15 * 2 * 8) / 45 = 960 / 45
        ("bitops", 960 / 45),
    ],
)
def test_criterion_weights_the_bits_as_documented(criterion: str, want: float) -> None:
    reg = thrifty.BitlengthRegularizer(_two_layers(), criterion=criterion, strength=1.0)
    assert reg().item() == pytest.approx(want, rel=1e-6)
    reg2 = thrifty.BitlengthRegularizer(_two_layers(), criterion=criterion, strength=0.25)
    assert reg2().item() == pytest.approx(0.25 * want, rel=1e-6)  # λ scales the penalty
