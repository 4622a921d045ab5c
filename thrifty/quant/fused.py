"""Quantized convolutions with their batch norm folded in: `QuantConvBn1d`, `QuantConvBn2d`.

Deployed networks fold a batch norm into the convolution before it, W' = W·γ/σ and
b' = β + γ·(b − μ)/σ with σ = sqrt(var + eps), so the weight that must survive quantization is
the folded one W', not W. These modules quantize W' while training keeps the batch norm alive,
following the fold-during-training scheme of Jacob et al. (CVPR 2018, §3.2) as described by
Krishnamoorthi (arXiv:1806.08342, §3.2, fig. 12):

- **training**: a float convolution of the quantized input with the unfolded weight gives the
  batch statistics μ_B, σ_B and updates the batch norm's running statistics (by calling the
  batch norm module itself, so the update — momentum, unbiased variance, `num_batches_tracked`
  — is exactly the unfolded one's). The quantized convolution then uses W' folded with the
  *running* σ (just updated, detached), and a correction turns its output into the batch
  normalized one: out = conv(x_q, Q(W·γ/σ_run))·(σ_run/σ_B) + β + γ·(b − μ_B)/σ_B. With the
  quantizers off this equals batch norm in training exactly (in exact arithmetic); gradients
  reach W, b, γ and β through both terms and through μ_B, σ_B as in batch norm. The cost is
  a second (float) convolution per training step.
- **evaluation**: out = conv(x_q, Q(W·γ/σ_run), β + γ·(b − μ_run)/σ_run): the folded layer
  itself, which `thrifty.quant.fold_batchnorm` makes permanent (bit for bit the same output).

The batch norm module lives on as the submodule `bn` (state-dict keys `<conv>.bn.*`); its old
place in the model holds an `nn.Identity`, whose name `bn_name` keeps for `dequantize`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from thrifty.quant.modules import QuantConv1d, QuantConv2d


class _ConvBnMixin:
    """The folded forward shared by QuantConvBn1d / QuantConvBn2d (see the module docstring)."""

    bn: nn.modules.batchnorm._BatchNorm
    bn_name: str

    @classmethod
    def fuse(cls, conv: nn.Module, bn: nn.Module, bn_name: str):
        """The fused layer from a quantized convolution (parameters and quantizers reused)."""
        fused = cls.__new__(cls)
        for key, value in conv.__dict__.items():  # new registries, same members
            fused.__dict__[key] = type(value)(value) if isinstance(value, dict) else value
        fused.bn = bn
        fused.bn_name = bn_name
        return fused

    def _broadcast(self, values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """(O,) per-channel values shaped to broadcast over a (N, O, *spatial) output."""
        return values.reshape(1, -1, *([1] * (like.ndim - 2)))

    def _bn_affine(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(γ, β, conv bias) as tensors (ones / zeros where the layer has none)."""
        bn = self.bn
        channels = bn.num_features
        like = bn.running_mean
        gamma = bn.weight if bn.weight is not None else torch.ones(channels, dtype=like.dtype)
        beta = bn.bias if bn.bias is not None else torch.zeros(channels, dtype=like.dtype)
        bias = self.bias if self.bias is not None else torch.zeros(channels, dtype=like.dtype)
        return gamma, beta, bias

    def folded_weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(W·γ/σ_run, β + γ·(b − μ_run)/σ_run): the evaluation-mode folded layer."""
        gamma, beta, bias = self._bn_affine()
        running_std = torch.sqrt(self.bn.running_var + self.bn.eps)
        scale = gamma / running_std
        weight = self.weight * scale.reshape(-1, *([1] * (self.weight.ndim - 1)))
        return weight, beta + (bias - self.bn.running_mean) * scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_q = self.input_quantizer(x)
        if not self.training:
            weight, bias = self.folded_weight_and_bias()
            x_q, w_q = self.operand_tap(x_q, self.weight_quantizer(weight))
            out = self._conv_forward(x_q, w_q, bias)
            self._record(x, out, math.prod(self.weight.shape[1:]))
            return out
        # Batch statistics from the float convolution; the batch norm updates its own buffers.
        y = self._conv_forward(x_q, self.weight, self.bias)
        dims = [0, *range(2, y.ndim)]
        batch_mean = y.mean(dims)
        batch_std = torch.sqrt(y.var(dims, unbiased=False) + self.bn.eps)
        with torch.no_grad():
            self.bn(y.detach())
        gamma, beta, bias = self._bn_affine()
        running_std = torch.sqrt(self.bn.running_var + self.bn.eps)
        scale = gamma / running_std
        weight = self.weight * scale.reshape(-1, *([1] * (self.weight.ndim - 1)))
        x_q, w_q = self.operand_tap(x_q, self.weight_quantizer(weight))
        out = self._conv_forward(x_q, w_q, None)
        correction = self._broadcast(running_std / batch_std, out)
        shift = beta + gamma * (bias - batch_mean) / batch_std
        out = out * correction + self._broadcast(shift, out)
        self._record(x, out, math.prod(self.weight.shape[1:]))
        return out

    def to_float(self) -> nn.Module:
        """The float convolution again (same parameters); `bn` goes back to `bn_name` through
        `thrifty.quant.dequantize`."""
        conv = super().to_float()
        conv._modules.pop("bn", None)
        conv.__dict__.pop("bn_name", None)
        return conv


class QuantConvBn1d(_ConvBnMixin, QuantConv1d):
    """QuantConv1d with a BatchNorm1d folded into its quantized weight (see the module)."""


class QuantConvBn2d(_ConvBnMixin, QuantConv2d):
    """QuantConv2d with a BatchNorm2d folded into its quantized weight (see the module)."""


#: Quantized convolution class → its fused class.
FUSED_CLASS_FOR: dict[type[nn.Module], type[nn.Module]] = {
    QuantConv1d: QuantConvBn1d,
    QuantConv2d: QuantConvBn2d,
}

#: The fused classes, for isinstance checks.
FUSED_MODULE_TYPES: tuple[type[nn.Module], ...] = (QuantConvBn1d, QuantConvBn2d)
