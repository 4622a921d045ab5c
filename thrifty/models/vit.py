"""A small vision transformer (ViT) for 28×28 images: trains on Fashion-MNIST on a CPU in minutes.

The image is cut into patches (a convolution with kernel = stride = patch size: 7 → 4 × 4 = 16
patches of a 28×28 image), a class token is prepended and a learned position embedding added;
then `depth` pre-norm blocks of multi-head self-attention and an MLP, each with a residual
connection; the final LayerNorm of the class token feeds the classifier.

Attention computes its two products of activations through `thrifty.quant.MatMul` modules
(`attn.qk`: Q·Kᵀ, `attn.av`: softmax·V), so that `quantize(..., quantize_matmul=True)` can
quantize them and a trace records them as their own operations. Every other product is an
`nn.Linear` or the patch `nn.Conv2d`, quantized as usual.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from thrifty.errors import ConfigError
from thrifty.quant.matmul import MatMul


class Attention(nn.Module):
    """Multi-head self-attention: qkv projection, softmax(Q·Kᵀ·scale)·V per head, out projection."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"ViT width {dim} is not divisible by its {heads} heads")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.qk = MatMul("attention_qk")
        self.av = MatMul("attention_av")
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        # (batch, tokens, 3·dim) → three (batch, heads, tokens, head_dim)
        q, k, v = self.qkv(x).reshape(batch, tokens, 3, self.heads, self.head_dim).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        scores = self.qk(q, k.transpose(-2, -1)) * self.scale  # (batch, heads, tokens, tokens)
        out = self.av(scores.softmax(dim=-1), v)  # (batch, heads, tokens, head_dim)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(mlp_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class VisionTransformer(nn.Module):
    """Patch embedding + class token + `depth` blocks + LayerNorm + linear classifier.

    Defaults (patch 7, width 64, 4 heads, 4 blocks, MLP 128) give 17 tokens of a 28×28 image
    and about 0.14 M parameters. `patch_size=None` picks 7 when it divides the image size,
    else 4.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        patch_size: int | None = None,
        dim: int = 64,
        depth: int = 4,
        heads: int = 4,
        mlp_dim: int = 128,
    ) -> None:
        super().__init__()
        if patch_size is None:
            patch_size = 7 if image_size % 7 == 0 else 4
        if image_size % patch_size:
            raise ConfigError(
                f"ViT patch size {patch_size} does not divide the image size {image_size}; "
                "choose a patch size that divides it"
            )
        patches = (image_size // patch_size) ** 2
        self.patch_embed = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, patches + 1, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # (batch, patches, dim)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x[:, 0]))


def vit_tiny(num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> nn.Module:
    """The registered `vit_tiny`: VisionTransformer with its defaults."""
    return VisionTransformer(num_classes, in_channels, image_size)
