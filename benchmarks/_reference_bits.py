"""An independent, minimal implementation of learned bitlengths, to cross-check thrifty.

Written from the method's description only (it imports nothing from thrifty): per-tensor
asymmetric min-max ranges read from the values and detached from the graph, straight-through
rounding (round(v) = v + (round(v) - v).detach()), the interpolation
(1 - a)*Q(x, b) + a*Q(x, b + 1) with b = floor(n) detached and a = n - b, batch ranges for the
activations in training and in evaluation, bitlengths clamped to [2, 16] after each step,
freeze = round up. `benchmarks/bits_gap.py` runs the same script against it and thrifty.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MIN_BITS, MAX_BITS = 2.0, 16.0


def _round_ste(v: torch.Tensor) -> torch.Tensor:
    return v + (torch.round(v) - v).detach()


def _q(x: torch.Tensor, b: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    span = hi - lo
    step = torch.where(span > 0, span, torch.ones_like(span)) / (2.0**b - 1.0)
    return lo + step * _round_ste((x - lo) / step)


def fake_quant(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """(1 - a)*Q(x, b) + a*Q(x, b + 1) over the min-max range of x (no gradient to the range)."""
    lo, hi = x.detach().min(), x.detach().max()
    b = torch.floor(n.detach())
    a = n - b
    return (1.0 - a) * _q(x, b, lo, hi) + a * _q(x, b + 1.0, lo, hi)


class RefQuantLayer(nn.Module):
    """Wraps a Conv2d or Linear; quantizes its input and its weight, each with one bitlength."""

    def __init__(self, layer: nn.Module, init_bits: float = 8.0) -> None:
        super().__init__()
        self.layer = layer
        self.w_bits = nn.Parameter(torch.tensor(float(init_bits)))
        self.a_bits = nn.Parameter(torch.tensor(float(init_bits)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layer = self.layer
        xq, wq = fake_quant(x, self.a_bits), fake_quant(layer.weight, self.w_bits)
        if isinstance(layer, nn.Linear):
            return F.linear(xq, wq, layer.bias)
        return layer._conv_forward(xq, wq, layer.bias)


def ref_quantize(model: nn.Module, init_bits: float = 8.0) -> nn.Module:
    """Wrap every Conv2d and Linear of `model` in place; returns `model`."""
    for name, child in list(model.named_children()):
        if type(child) in (nn.Conv2d, nn.Linear):
            setattr(model, name, RefQuantLayer(child, init_bits))
        else:
            ref_quantize(child, init_bits)
    return model


def ref_layers(model: nn.Module) -> list[RefQuantLayer]:
    return [m for m in model.modules() if isinstance(m, RefQuantLayer)]


def ref_bits(model: nn.Module) -> list[torch.Tensor]:
    return [p for m in ref_layers(model) for p in (m.w_bits, m.a_bits)]


def ref_cost(model: nn.Module) -> torch.Tensor:
    """Mean bitlength over every quantized tensor (the 'bits' criterion)."""
    return torch.stack(ref_bits(model)).mean()


def ref_param_groups(model: nn.Module, lr: float, bits_lr: float) -> list[dict]:
    bits = {id(p) for p in ref_bits(model)}
    weights = [p for p in model.parameters() if id(p) not in bits]
    return [{"params": weights, "lr": lr}, {"params": ref_bits(model), "lr": bits_lr}]


@torch.no_grad()
def ref_clamp(model: nn.Module) -> None:
    for p in ref_bits(model):
        p.clamp_(MIN_BITS, MAX_BITS)


@torch.no_grad()
def ref_freeze(model: nn.Module) -> None:
    for p in ref_bits(model):
        p.clamp_(MIN_BITS, MAX_BITS).ceil_()
        p.requires_grad_(False)


def ref_mean_bits(model: nn.Module) -> float:
    return float(torch.stack([p.detach() for p in ref_bits(model)]).mean())
