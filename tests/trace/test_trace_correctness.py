"""Stored operands equal what autograd computes independently."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import thrifty.trace as tt
from tests.trace._trace_nets import ConvNet, QuantNet, fake_quantize

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")

EXACT = {"atol": 0.0, "rtol": 0.0}


def _oracle(model: nn.Module, x: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
    """Each layer's input, weight, output, and autograd's grads wrt output, input and weight.

    Runs a copy of the model without in-place ops and asks torch.autograd.grad directly.
    """
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    seen: dict[str, dict[str, torch.Tensor]] = {}

    def keep(name):
        def hook(module, args, output):
            seen[name] = {"input": args[0], "weight": module.weight, "output": output}

        return hook

    layers = [
        (n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))
    ]
    for name, module in layers:
        module.register_forward_hook(keep(name))
    loss = model(x).square().sum()
    names = [n for n, _ in layers]
    wrt = [seen[n]["output"] for n in names] + [seen[n]["weight"] for n in names]
    with_input = [n for n in names if seen[n]["input"].requires_grad]
    wrt += [seen[n]["input"] for n in with_input]
    grads = torch.autograd.grad(loss, wrt)
    k = len(names)
    for i, n in enumerate(names):
        seen[n]["grad_output"] = grads[i]
        seen[n]["grad_weight"] = grads[k + i]
    for j, n in enumerate(with_input):
        seen[n]["grad_input"] = grads[2 * k + j]
    return seen


def _captured(model: nn.Module, x: torch.Tensor, folder) -> dict[tuple[str, str], tt.TraceEntry]:
    with tt.capture(model, folder):
        model(x).square().sum().backward()
    entries = {(e.layer, e.op): e for e in tt.open(folder)}
    assert len(entries) == len(list(tt.open(folder))), "one entry per (layer, op)"
    return entries


def _conv_args(g: dict) -> dict:
    return {
        "stride": g["stride"],
        "padding": g["padding"],
        "dilation": g["dilation"],
        "groups": g["groups"],
    }


def test_conv_net_operands_equal_autograd(tmp_path):
    model = ConvNet()
    x = torch.randn(2, 3, 8, 8)
    oracle = _oracle(model, x)
    entries = _captured(model, x, tmp_path / "t")

    # The first layer's input needs no gradient: autograd runs no backward-data there.
    assert ("conv1", "backward_data") not in entries
    expected = {(n, op) for n in oracle for op in tt.OPS} - {("conv1", "backward_data")}
    assert set(entries) == expected

    for name, ref in oracle.items():
        fwd = entries[(name, "forward")]
        torch.testing.assert_close(fwd.tensors["activation"], ref["input"].detach(), **EXACT)
        torch.testing.assert_close(fwd.tensors["weight"], ref["weight"].detach(), **EXACT)
        bw = entries[(name, "backward_weight")]
        torch.testing.assert_close(bw.tensors["grad_output"], ref["grad_output"], **EXACT)
        torch.testing.assert_close(bw.tensors["activation"], ref["input"].detach(), **EXACT)
        assert set(fwd.tensors) == {"activation", "weight"}
        assert set(bw.tensors) == {"grad_output", "activation"}
        if name != "conv1":
            bd = entries[(name, "backward_data")]
            assert set(bd.tensors) == {"grad_output", "weight"}
            torch.testing.assert_close(bd.tensors["grad_output"], ref["grad_output"], **EXACT)
            torch.testing.assert_close(bd.tensors["weight"], ref["weight"].detach(), **EXACT)
        g = fwd.geometry
        assert g["input_shape"] == list(ref["input"].shape)
        assert g["weight_shape"] == list(ref["weight"].shape)
        assert g["output_shape"] == list(ref["output"].shape)
        assert g["dtype"] == "float32"


def test_geometry_reproduces_the_three_operations(tmp_path):
    """The stored geometry and operands recompute output, grad-input and grad-weight."""
    model = ConvNet()
    x = torch.randn(2, 3, 8, 8)
    oracle = _oracle(model, x)
    entries = _captured(model, x, tmp_path / "t")
    tol = {"atol": 1e-5, "rtol": 1e-5}  # recomputed by other kernels: equal up to rounding
    for name, ref in oracle.items():
        fwd = entries[(name, "forward")]
        g = fwd.geometry
        act, w = fwd.tensors["activation"], fwd.tensors["weight"]
        bias = getattr(model, name).bias
        grad_out = entries[(name, "backward_weight")].tensors["grad_output"]
        if g["kind"] == "linear":
            assert "stride" not in g and g["groups"] == 1
            torch.testing.assert_close(F.linear(act, w, bias), ref["output"].detach(), **tol)
            torch.testing.assert_close(grad_out.T @ act, ref["grad_weight"], **tol)
            torch.testing.assert_close(grad_out @ w, ref["grad_input"], **tol)
            continue
        dims = 2 if g["kind"] == "conv2d" else 1
        # Explicit padding from the resolved ints (before, after; F.pad lists the last dim first).
        pads = [p for d in reversed(range(dims)) for p in (g["padding"][d], g["padding_end"][d])]
        padded = F.pad(act, pads)
        conv = F.conv2d if dims == 2 else F.conv1d
        args = {"stride": g["stride"], "dilation": g["dilation"], "groups": g["groups"]}
        torch.testing.assert_close(conv(padded, w, bias, **args), ref["output"].detach(), **tol)
        assert g["bias"] == (bias is not None)
        grad_mod = torch.nn.grad
        weight_fn = grad_mod.conv2d_weight if dims == 2 else grad_mod.conv1d_weight
        input_fn = grad_mod.conv2d_input if dims == 2 else grad_mod.conv1d_input
        dw = weight_fn(padded, w.shape, grad_out, **args)
        torch.testing.assert_close(dw, ref["grad_weight"], **tol)
        if name != "conv1":
            d_padded = input_fn(padded.shape, w, grad_out, **args)
            crop = tuple(
                [slice(None), slice(None)]
                + [slice(g["padding"][d], g["padding"][d] + act.shape[2 + d]) for d in range(dims)]
            )
            torch.testing.assert_close(d_padded[crop], ref["grad_input"], **tol)
    same = entries[("conv4", "forward")].geometry
    assert (same["padding"], same["padding_end"]) == ([1, 1], [2, 2])  # k=4 'same'
    assert entries[("conv3", "forward")].geometry["groups"] == 8  # depthwise


def test_quantized_layers_store_the_quantized_operands(tmp_path):
    model = QuantNet()
    x = torch.randn(2, 2, 6, 6)
    with tt.capture(model, tmp_path / "t"):
        model(x).sum().backward()
    entries = {(e.layer, e.op): e for e in tt.open(tmp_path / "t")}
    conv_fwd = entries[("conv", "forward")]
    x_q = fake_quantize(x, 0.25)
    w_q = fake_quantize(model.conv.weight, 0.125).detach()
    torch.testing.assert_close(conv_fwd.tensors["activation"], x_q, **EXACT)
    torch.testing.assert_close(conv_fwd.tensors["weight"], w_q, **EXACT)
    assert not torch.equal(conv_fwd.tensors["weight"], model.conv.weight.detach())
    fc_bd = entries[("fc", "backward_data")]
    torch.testing.assert_close(
        fc_bd.tensors["weight"], fake_quantize(model.fc.weight, 0.125).detach(), **EXACT
    )
    fc_act = entries[("fc", "forward")].tensors["activation"]
    assert torch.all(torch.remainder(fc_act, 0.25) == 0)
    # The activation x_q of the first layer needs no gradient: no backward-data entry.
    assert ("conv", "backward_data") not in entries
    assert ("conv", "backward_weight") in entries


def test_autocast_stores_the_dtype_the_layer_used(tmp_path):
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(3, 6)
    with tt.capture(model, tmp_path / "t"), torch.autocast("cpu", dtype=torch.bfloat16):
        model(x).float().sum().backward()
    entries = {(e.layer, e.op): e for e in tt.open(tmp_path / "t")}
    fwd = entries[("0", "forward")]
    assert fwd.geometry["dtype"] == "bfloat16"
    assert fwd.tensors["activation"].dtype == torch.bfloat16
    torch.testing.assert_close(fwd.tensors["activation"], x.to(torch.bfloat16), **EXACT)
    torch.testing.assert_close(fwd.tensors["weight"], model[0].weight.detach().bfloat16(), **EXACT)
    assert entries[("2", "backward_data")].tensors["grad_output"].dtype == torch.bfloat16


class _Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shared(self.shared(x))


def test_a_layer_called_twice_in_a_step_gets_two_calls(tmp_path):
    model = _Twice()
    x = torch.randn(2, 4, requires_grad=True)
    with tt.capture(model, tmp_path / "t"):
        model(x).sum().backward()
    entries = list(tt.open(tmp_path / "t"))
    assert sorted((e.op, e.call) for e in entries) == [
        (op, c) for op in sorted(tt.OPS) for c in (0, 1)
    ]
    first = next(e for e in entries if e.op == "forward" and e.call == 0)
    second = next(e for e in entries if e.op == "forward" and e.call == 1)
    torch.testing.assert_close(first.tensors["activation"], x.detach(), **EXACT)
    torch.testing.assert_close(second.tensors["activation"], model.shared(x).detach(), **EXACT)
    assert {e.step for e in entries} == {0}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_capture_matches_cpu_copy(tmp_path):
    model = ConvNet().cuda()
    x = torch.randn(2, 3, 8, 8, device="cuda")
    oracle = _oracle(model, x)
    entries = _captured(model, x, tmp_path / "t")
    for name, ref in oracle.items():
        bw = entries[(name, "backward_weight")]
        torch.testing.assert_close(bw.tensors["grad_output"], ref["grad_output"].cpu(), **EXACT)
        torch.testing.assert_close(bw.tensors["activation"], ref["input"].detach().cpu(), **EXACT)
