"""Capture of thrifty's real quantized layers (branch quant): the operands as multiplied."""

from __future__ import annotations

import copy

import pytest
import torch

import thrifty.trace as tt
from tests.trace._trace_nets import ConvNet

quant = pytest.importorskip("thrifty.quant")
if not hasattr(quant, "quantize"):
    pytest.skip("thrifty.quant has no quantized layers on this branch", allow_module_level=True)

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")


def _tap_oracle(model, x):
    """Operands at each operand_tap and each layer's output grad, from an independent pass."""
    seen = {}

    def keep(name):
        def hook(module, args, output):
            seen.setdefault(name, {})["operands"] = [a.detach().clone() for a in args]

        return hook

    def keep_output(name):
        def hook(module, args, output):
            seen[name]["output"] = output

        return hook

    layers = quant.quantized_layers(model)
    for name, layer in layers:
        layer.operand_tap.register_forward_hook(keep(name))
        layer.register_forward_hook(keep_output(name))
    loss = model(x).square().sum()
    grads = torch.autograd.grad(loss, [seen[n]["output"] for n, _ in layers])
    for (name, _), grad in zip(layers, grads, strict=True):
        seen[name]["grad_output"] = grad
    return seen


def test_real_quantized_layers_store_quantized_operands(tmp_path):
    model = quant.quantize(ConvNet(inplace=False))
    x = torch.randn(2, 3, 8, 8)
    oracle = _tap_oracle(copy.deepcopy(model), x)
    with tt.capture(model, tmp_path / "t"):
        model(x).square().sum().backward()
    entries = {(e.layer, e.op): e for e in tt.open(tmp_path / "t")}
    assert {layer for layer, _ in entries} == set(oracle)
    for name, ref in oracle.items():
        x_q, w_q = ref["operands"]
        fwd = entries[(name, "forward")]
        torch.testing.assert_close(fwd.tensors["activation"], x_q, atol=0, rtol=0)
        torch.testing.assert_close(fwd.tensors["weight"], w_q, atol=0, rtol=0)
        bw = entries[(name, "backward_weight")]
        torch.testing.assert_close(bw.tensors["grad_output"], ref["grad_output"], atol=0, rtol=0)
        if (name, "backward_data") in entries:
            torch.testing.assert_close(
                entries[(name, "backward_data")].tensors["weight"], w_q, atol=0, rtol=0
            )
    raw = model.conv2.weight.detach()
    assert not torch.equal(entries[("conv2", "forward")].tensors["weight"], raw)
