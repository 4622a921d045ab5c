"""Products of two activations: stored operands and geometry recompute the product and its
gradients exactly; SDPA's decomposition matches the fused call; old stores still read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import thrifty.trace as tt
from thrifty.quant import MatMul, QuantConfig, quantize
from thrifty.trace.products import sdpa_decomposed

EXACT = {"atol": 0.0, "rtol": 0.0}
OLD_STORE = Path(__file__).parent / "data" / "store_v1"


class _ModuleAttention(nn.Module):
    """Scores and weighted sum through MatMul modules (as thrifty's ViT computes them)."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.qk = MatMul("attention_qk")
        self.av = MatMul("attention_av")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, tokens, 8), 2 heads of 4
        b, t, _ = x.shape
        q, k, v = (s.transpose(1, 2) for s in self.qkv(x).reshape(b, t, 3, 2, 4).unbind(2))
        scores = self.qk(q, k.transpose(-2, -1)) * 0.5
        return self.av(scores.softmax(-1), v).sum()


class _FunctionAttention(nn.Module):
    """The same through torch functions: @, torch.bmm and F.scaled_dot_product_attention."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 24)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = (s.transpose(1, 2) for s in self.qkv(x).reshape(b, t, 3, 2, 4).unbind(2))
        fused = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        gram = torch.bmm(fused.reshape(b * 2, t, 4), fused.reshape(b * 2, t, 4).transpose(1, 2))
        return (q @ k.transpose(-2, -1)).sum() + gram.sum()


def _check_entries(folder: Path, layer: str) -> dict:
    """Recompute forward and both gradients from stored operands; returns the geometry."""
    entries = {e.op: e for e in tt.open(folder) if e.layer == layer}
    assert set(entries) == {"forward", "backward_data", "backward_weight"}
    geometry = entries["forward"].geometry
    a = entries["forward"].tensors["activation"].double().requires_grad_()
    b = entries["forward"].tensors["weight"].double().requires_grad_()
    assert [list(a.shape), list(b.shape)] == [geometry["input_shape"], geometry["weight_shape"]]
    assert (geometry["m"], geometry["k"], geometry["n"]) == (a.shape[-2], a.shape[-1], b.shape[-1])
    grad = entries["backward_data"].tensors["grad_output"].double()
    assert list(grad.shape) == geometry["output_shape"]
    c = torch.matmul(a, b)
    da, db = torch.autograd.grad(c, (a, b), grad)
    # The stored operands of the two backward products are the forward's.
    torch.testing.assert_close(entries["backward_data"].tensors["weight"].double(), b, **EXACT)
    torch.testing.assert_close(
        entries["backward_weight"].tensors["activation"].double(), a, **EXACT
    )
    torch.testing.assert_close(da, grad @ b.transpose(-2, -1), **EXACT)
    torch.testing.assert_close(db, a.transpose(-2, -1) @ grad, **EXACT)
    return geometry


def test_module_products_recorded_with_gradients(tmp_path):
    torch.manual_seed(0)
    model = _ModuleAttention()
    x = torch.randn(3, 5, 8)
    seen = {}

    def keep(module, args, out):
        seen.update(qk=args)
        out.register_hook(lambda g: seen.update(grad=g))

    model.qk.register_forward_hook(keep)
    with tt.capture(model, tmp_path / "t"):
        model(x).backward()
    geometry = _check_entries(tmp_path / "t", "qk")
    assert geometry["role"] == "attention_qk" and geometry["source"] == "module"
    assert geometry["batch_shape"] == [3, 2] and geometry["b_transposed"] is True
    entry = next(tt.open(tmp_path / "t").select(layer="qk", op="backward_data"))
    torch.testing.assert_close(entry.tensors["grad_output"], seen["grad"], **EXACT)
    forward = next(tt.open(tmp_path / "t").select(layer="qk", op="forward"))
    torch.testing.assert_close(forward.tensors["activation"], seen["qk"][0], **EXACT)
    assert _check_entries(tmp_path / "t", "av")["role"] == "attention_av"
    # Recorded once, by the module: its own torch.matmul is not seen as a function product.
    assert {e.layer for e in tt.open(tmp_path / "t")} == {"qkv", "qk", "av"}


def test_quantized_products_are_recorded_as_multiplied(tmp_path):
    torch.manual_seed(0)
    model = quantize(_ModuleAttention(), QuantConfig(quantize_matmul=True))
    taps = {}
    model.av.operand_tap.register_forward_hook(lambda m, args, out: taps.update(av=args))
    with tt.capture(model, tmp_path / "t"):
        model(torch.randn(2, 5, 8)).backward()
    forward = next(tt.open(tmp_path / "t").select(layer="av", op="forward"))
    torch.testing.assert_close(forward.tensors["activation"], taps["av"][0], **EXACT)
    torch.testing.assert_close(forward.tensors["weight"], taps["av"][1], **EXACT)
    assert forward.tensors["weight"].unique().numel() <= 2**8  # 8-bit levels
    _check_entries(tmp_path / "t", "av")


def test_function_products_and_sdpa_decomposition_recorded(tmp_path):
    torch.manual_seed(0)
    model = _FunctionAttention()
    x = torch.randn(2, 5, 8)
    expected = model(x)
    with tt.capture(model, tmp_path / "t"):
        out = model(x)
        out.backward()
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    layers = {e.layer for e in tt.open(tmp_path / "t")}
    qk_name = "scaled_dot_product_attention.qk"
    assert layers == {"qkv", qk_name, "scaled_dot_product_attention.av", "matmul", "bmm"}
    geometry = _check_entries(tmp_path / "t", qk_name)
    assert geometry["scale"] == pytest.approx(0.5) and geometry["source"] == qk_name
    av = _check_entries(tmp_path / "t", "scaled_dot_product_attention.av")
    assert av["scale"] is None
    assert _check_entries(tmp_path / "t", "bmm")["batch_shape"] == [4]
    _check_entries(tmp_path / "t", "matmul")
    # The causal mask: the stored softmax is zero above the diagonal.
    probs = next(tt.open(tmp_path / "t").select(layer="scaled_dot_product_attention.av"))
    assert bool((probs.tensors["activation"].triu(1) == 0).all())


def test_functions_off_and_outside_captured_steps_leave_calls_alone(tmp_path):
    model = _FunctionAttention()
    config = tt.TraceConfig(functions=False)
    with tt.capture(model, tmp_path / "t", config):
        model(torch.randn(2, 5, 8)).backward()
    assert {e.layer for e in tt.open(tmp_path / "t")} == {"qkv"}
    assert torch.overrides._get_current_function_mode_stack() == []


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"is_causal": True}, {"scale": 0.3}, {"mask": "bool"}, {"mask": "float"}],
)
def test_sdpa_decomposition_matches_the_fused_call(kwargs):
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 3, 6, 4, requires_grad=True) for _ in range(3))
    call = dict(kwargs)
    mask = call.pop("mask", None)
    if mask == "bool":
        call["attn_mask"] = torch.rand(6, 6) > 0.3
        call["attn_mask"].fill_diagonal_(True)
    elif mask == "float":
        call["attn_mask"] = torch.randn(6, 6)
    fused = F.scaled_dot_product_attention(q, k, v, **call)
    mine = sdpa_decomposed(q, k, v, **call)
    torch.testing.assert_close(mine, fused, atol=1e-6, rtol=1e-5)
    grads = torch.autograd.grad(fused.sum(), (q, k, v))
    mine_grads = torch.autograd.grad(mine.sum(), (q, k, v))
    for got, want in zip(mine_grads, grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_unsupported_broadcast_is_skipped_with_a_warning(tmp_path):
    class Broadcast(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.matmul(self.fc(x), torch.ones(3, 1, 4, 2)).sum()  # (2, 5, 4) · (3, 1, ..)

    model = Broadcast()
    warning = pytest.warns(RuntimeWarning, match="'matmul' of shapes .*is not recorded")
    with warning, tt.capture(model, tmp_path / "t"):
        model(torch.randn(2, 5, 4)).backward()
    assert {e.layer for e in tt.open(tmp_path / "t")} == {"fc"}


def test_version_1_store_still_reads(tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(OLD_STORE, folder)
    assert json.loads((folder / "manifest.json").read_text())["format_version"] == 1
    entries = list(tt.open(folder))
    assert [e.op for e in entries] == ["forward", "backward_weight"]  # the input needs no grad
    forward = entries[0]
    assert forward.geometry["kind"] == "linear"
    x, w = forward.tensors["activation"], forward.tensors["weight"]
    assert list(x.shape) == [2, 3] and list(w.shape) == [2, 3]
