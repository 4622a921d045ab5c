"""The small vision transformer: shapes, its attention products, learned bitlengths that move."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import thrifty
from tests.hw._sim_helpers import fashion_images
from tests.train._runs import TINY
from thrifty.errors import ConfigError
from thrifty.models import build_model
from thrifty.models.vit import Attention
from thrifty.quant import MatMul, QuantConfig, QuantMatMul, quantize
from thrifty.train import TrainConfig, train


def test_vit_maps_images_to_logits_with_named_attention_products():
    model = build_model("vit_tiny", num_classes=7)
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 7)
    products = {n: m.kind for n, m in model.named_modules() if isinstance(m, MatMul)}
    assert products["blocks.0.attn.qk"] == "attention_qk"
    assert products["blocks.3.attn.av"] == "attention_av"
    assert len(products) == 8
    assert build_model("vit_tiny", 10, 3, 32)(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_attention_equals_torch_sdpa():
    attn = Attention(dim=16, heads=4)
    x = torch.randn(2, 5, 16)
    q, k, v = attn.qkv(x).reshape(2, 5, 3, 4, 4).unbind(2)
    fused = F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v)))
    expected = attn.proj(fused.transpose(1, 2).reshape(2, 5, 16))
    torch.testing.assert_close(attn(x), expected, atol=1e-6, rtol=1e-5)


def test_bad_sizes_are_named():
    with pytest.raises(ConfigError, match="patch size 5 does not divide the image size 28"):
        thrifty.models.vit.VisionTransformer(image_size=28, patch_size=5)
    with pytest.raises(ConfigError, match="width 10 is not divisible by its 4 heads"):
        Attention(dim=10, heads=4)


def test_vit_learns_bitlengths_of_layers_and_products():
    x, y = fashion_images(32)
    model = quantize(build_model("vit_tiny"), QuantConfig(quantize_matmul=True))
    assert isinstance(model.blocks[0].attn.qk, QuantMatMul)
    reg = thrifty.BitlengthRegularizer(model, "bitops", strength=0.5)
    optimizer = torch.optim.Adam(thrifty.param_groups(model, lr=1e-3, bits_lr=0.05))
    start = thrifty.summary(model)
    for _ in range(4):
        loss = F.cross_entropy(model(x), y) + reg()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    end = thrifty.summary(model)
    assert end.mean_bits < start.mean_bits - 0.1
    products = [r for r in end.records if r.type == "QuantMatMul"]
    assert len(products) == 8
    assert all(r.weight_bits < 8.0 and r.activation_bits < 8.0 for r in products)


def test_thrifty_train_runs_the_vit_with_quantized_products(tmp_path):
    config = TrainConfig.model_validate(
        {
            **TINY,
            "out": str(tmp_path / "run"),
            "model": {"name": "vit_tiny"},
            "quant": {"quantize_matmul": True},
            "phases": {"float": {"epochs": 1}, "learn": {"epochs": 1}, "finetune": {"epochs": 1}},
        }
    )
    result = train(config)
    layers = {layer["name"]: layer for layer in result["layers"]}
    assert layers["blocks.0.attn.qk"]["type"] == "QuantMatMul"
    assert layers["blocks.3.attn.av"]["weight_bits"] == int(
        layers["blocks.3.attn.av"]["weight_bits"]
    )
    assert 0.0 <= result["final_accuracy"] <= 1.0
