"""QuantMatMul: the product of two activations, quantized on both sides, in every cost."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import thrifty
from thrifty.errors import QuantizationError
from thrifty.quant import MatMul, QuantConfig, QuantMatMul, quantize
from thrifty.quant.costs import bitops_cost, bits_cost, layer_bits, memory_cost
from thrifty.quant.functional import fractional_quantize
from thrifty.quant.quantize import bit_parameters, dequantize, freeze, quantized_layers

EXACT = {"atol": 0.0, "rtol": 0.0}


class _Scores(nn.Module):
    """x → fc(x) → (fc(x) · fc(x)ᵀ) → fc2: one weight layer, one product of activations."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 4)
        self.qk = MatMul("attention_qk")
        self.fc2 = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, 5, 6)
        h = self.fc(x)
        return self.fc2(self.qk(h, h.transpose(-2, -1)))


def test_matmul_stays_float_unless_asked():
    model = quantize(_Scores())
    assert type(model.qk) is MatMul
    assert [n for n, _ in quantized_layers(model)] == ["fc", "fc2"]
    model = quantize(_Scores(), QuantConfig(quantize_matmul=True))
    assert type(model.qk) is QuantMatMul
    assert {n for n, _ in quantized_layers(model)} == {"fc", "qk", "fc2"}


def test_forward_multiplies_the_quantized_operands_and_taps_them():
    model = quantize(_Scores(), QuantConfig(quantize_matmul=True)).train()
    x = torch.randn(2, 5, 6)
    seen = {}
    model.qk.operand_tap.register_forward_hook(lambda m, args, out: seen.update(ops=args))
    h = model.fc(x)
    out = model.qk(h, h.transpose(-2, -1))
    a, b = h.detach(), h.detach().transpose(-2, -1)
    n = torch.tensor(8.0)
    a_q = fractional_quantize(a, n, a.amin(), a.amax(), "int", False)
    b_q = fractional_quantize(b, n, b.amin(), b.amax(), "int", False)
    torch.testing.assert_close(seen["ops"][0], a_q, **EXACT)
    torch.testing.assert_close(seen["ops"][1], b_q, **EXACT)
    torch.testing.assert_close(out.detach(), a_q @ b_q, **EXACT)
    # 2 samples: per sample 5×5 outputs of a 4-long dot product; A and B hold 20 values each.
    assert (model.qk.macs, model.qk.activation_elements, model.qk.other_elements) == (100, 20, 20)


def test_costs_count_both_operands_and_no_weight():
    model = quantize(_Scores(), QuantConfig(quantize_matmul=True))
    model(torch.randn(2, 5, 6))
    with torch.no_grad():
        model.qk.input_quantizer.bitlength.fill_(3.0)
        model.qk.other_quantizer.bitlength.fill_(5.0)
    records = {r.name: r for r in layer_bits(model)}
    assert records["qk"].type == "QuantMatMul"
    # bits: six tensors, four at 8 bits, then 3 and 5.
    assert float(bits_cost(records.values()).detach()) == pytest.approx((4 * 8 + 3 + 5) / 6)
    # memory: fc (24 weights, 30 inputs), qk (20 + 20 per sample, no weight), fc2 (15 + 25).
    memory = (24 * 8 + 30 * 8 + 20 * 3 + 20 * 5 + 15 * 8 + 25 * 8) / (24 + 30 + 40 + 15 + 25)
    assert float(memory_cost(records.values()).detach()) == pytest.approx(memory)
    # bitops: MACs per sample fc 5·4·6 = 120, qk 5·5·4 = 100, fc2 5·3·5 = 75.
    bitops = (120 * 64 + 100 * 15 + 75 * 64) / (120 + 100 + 75)
    assert float(bitops_cost(records.values()).detach()) == pytest.approx(bitops)


def test_regularizer_freeze_and_checkpoint_include_the_product(tmp_path):
    model = quantize(_Scores(), QuantConfig(quantize_matmul=True))
    params = bit_parameters(model)
    assert model.qk.other_quantizer.bitlength in params
    assert len(params) == 6
    reg = thrifty.BitlengthRegularizer(model, "bits", strength=1.0)
    model(torch.randn(2, 5, 6))
    reg().backward()
    assert model.qk.other_quantizer.bitlength.grad is not None
    with torch.no_grad():
        model.qk.input_quantizer.bitlength.fill_(3.2)
    freeze(model)
    assert model.qk.input_quantizer.frozen and model.qk.other_quantizer.frozen
    assert float(model.qk.input_quantizer.bitlength) == 4.0
    path = thrifty.save(model, tmp_path / "m.pt")
    loaded = thrifty.load(_Scores(), path)
    assert loaded.qk.input_quantizer.frozen
    assert float(loaded.qk.input_quantizer.bitlength) == 4.0
    assert type(dequantize(loaded).qk) is MatMul


def test_exclude_and_override_patterns_reach_products():
    config = QuantConfig(
        quantize_matmul=True,
        overrides=[{"pattern": "qk", "activation": {"init_bits": 6}}],
    )
    model = quantize(_Scores(), config)
    assert float(model.qk.other_quantizer.bitlength.detach()) == 6.0
    model = quantize(_Scores(), QuantConfig(quantize_matmul=True, exclude=["qk"]))
    assert type(model.qk) is MatMul
    with pytest.raises(QuantizationError, match="pattern 'nope'.*'qk'"):
        quantize(_Scores(), QuantConfig(quantize_matmul=True, exclude=["nope"]))


def test_unknown_kind_and_wrong_class_are_named():
    with pytest.raises(QuantizationError, match="kind 'qv' is unknown.*attention_qk"):
        MatMul("qv")
    with pytest.raises(QuantizationError, match="needs an exact MatMul, got Linear"):
        QuantMatMul.from_float(nn.Linear(2, 2), name="x")


def test_export_and_integer_inference_refuse_quantized_products():
    pytest.importorskip("onnx")
    from thrifty.errors import ExportError, SimulationError
    from thrifty.export.params import deployment_copy
    from thrifty.hw.sim.integer_forward import check_integer_layers

    model = freeze(quantize(_Scores(), QuantConfig(quantize_matmul=True)))
    with pytest.raises(ExportError, match=r"QuantMatMul layers \['qk'\].*quantize_matmul=False"):
        deployment_copy(model)
    with pytest.raises(SimulationError, match=r"QuantMatMul layers \['qk'\].*training trace"):
        check_integer_layers(model)
