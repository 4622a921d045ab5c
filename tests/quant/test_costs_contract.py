"""Cost records and criteria at their edges: record fields, float (disabled) tensors, the errors.

Hand values: a Linear(6, 5) and a Linear(5, 3), bits set by hand (see test_options.py for the
three criteria with every tensor quantized).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import thrifty
from thrifty.errors import QuantizationError
from thrifty.quant.costs import FLOAT_BITS, bitops_cost, bits_cost, layer_bits, memory_cost


def _model(activation: dict | None = None, forward: bool = True) -> nn.Module:
    torch.manual_seed(0)
    config = thrifty.QuantConfig.model_validate(
        {"weight": {"granularity": "channel"}, "activation": activation or {}}
    )
    model = thrifty.quantize(nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)), config)
    if forward:
        model(torch.randn(2, 6))
    for name, bits in (("0", 4.0), ("2", 2.0)):
        with torch.no_grad():
            model.get_submodule(name).weight_quantizer.bitlength.fill_(bits)
            model.get_submodule(name).input_quantizer.bitlength.fill_(bits + 2)
    return model


def test_records_name_each_layer_its_type_and_granularities() -> None:
    records = layer_bits(_model())
    assert [(r.name, r.type) for r in records] == [("0", "QuantLinear"), ("2", "QuantLinear")]
    assert [(r.weight_granularity, r.activation_granularity) for r in records] == [
        ("channel", "tensor"),
        ("channel", "tensor"),
    ]
    assert [(r.weight_elements, r.activation_elements, r.macs) for r in records] == [
        (30, 6, 30),
        (15, 5, 15),
    ]
    assert [(r.weight_bits.item(), r.activation_bits.item()) for r in records] == [
        (4.0, 6.0),
        (2.0, 4.0),
    ]


def test_a_disabled_quantizer_has_no_bits_and_counts_as_float_in_bitops() -> None:
    records = layer_bits(_model(activation={"enabled": False}))
    assert all(r.activation_bits is None for r in records)
    assert bits_cost(records).item() == (4 + 2) / 2  # float tensors take no part
    assert memory_cost(records).item() == pytest.approx((4 * 30 + 2 * 15) / 45)
    # bitops: activations at FLOAT_BITS = 32: (30 * 4 * 32 + 15 * 2 * 32) / 45
    assert FLOAT_BITS == 32.0
    assert bitops_cost(records).item() == pytest.approx((30 * 4 * 32 + 15 * 2 * 32) / 45)


def test_bitops_with_float_weights() -> None:
    records = layer_bits(_model(activation={}, forward=True))
    float_weights = [
        type(r)(**{**r.__dict__, "weight_bits": None})
        for r in records  # weights left float
    ]
    # (30 * 32 * 6 + 15 * 32 * 4) / 45
    assert bitops_cost(float_weights).item() == pytest.approx((30 * 32 * 6 + 15 * 32 * 4) / 45)


def test_bitops_of_a_single_mac() -> None:
    model = thrifty.quantize(nn.Sequential(nn.Linear(1, 1)))
    model(torch.randn(3, 1))
    with torch.no_grad():
        model[0].weight_quantizer.bitlength.fill_(3.0)
        model[0].input_quantizer.bitlength.fill_(5.0)
    (record,) = layer_bits(model)
    assert record.macs == 1
    assert bitops_cost([record]).item() == 15.0  # 1 MAC x 3 x 5 / 1


def test_errors_name_the_criterion_and_the_fix() -> None:
    records = layer_bits(_model(forward=False))
    for criterion, cost in (("memory", memory_cost), ("bitops", bitops_cost)):
        with pytest.raises(QuantizationError, match=rf"criterion '{criterion}' needs the shapes"):
            cost(records)
        with pytest.raises(QuantizationError, match="on a batch before computing the cost$"):
            cost(records)
    config = thrifty.QuantConfig.model_validate(
        {"weight": {"enabled": False}, "activation": {"enabled": False}}
    )
    model = thrifty.quantize(nn.Sequential(nn.Linear(2, 2)), config)
    model(torch.randn(1, 2))
    for cost in (bits_cost, memory_cost):
        with pytest.raises(
            QuantizationError, match="^no quantizer is enabled: every weight and input stays float$"
        ):
            cost(layer_bits(model))
