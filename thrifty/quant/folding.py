"""`fold_batchnorm(model)`: make batch-norm folding permanent, for deployment and export.

- Each fused `QuantConvBn1d/2d` (from `quantize` with `fold_batchnorm: true`) becomes a plain
  `QuantConv1d/2d` whose weight is W·γ/σ_run and whose bias is β + γ·(b − μ_run)/σ_run, with
  the same quantizers (bitlengths, activation ranges): its output equals the fused layer's
  evaluation output bit for bit, since both run the same operations.
- Each float Conv1d/Conv2d → BatchNorm pair (`bn_pairs.find_conv_bn_pairs`) becomes one float
  convolution with the folded weight and bias; the batch norm's place holds an nn.Identity.
  Equal to the unfolded model in evaluation mode up to float32 rounding.

A batch norm after a convolution that was quantized *without* folding is refused: folding it
now would change the weights that were quantized, so the model would no longer be the one that
was trained. Folding uses the running statistics: the result is an evaluation-mode model.
"""

from __future__ import annotations

from torch import nn

from thrifty.errors import QuantizationError
from thrifty.quant.bn_pairs import find_conv_bn_pairs
from thrifty.quant.fused import FUSED_MODULE_TYPES
from thrifty.quant.modules import QUANTIZED_MODULE_TYPES
from thrifty.quant.quantize import replace_submodule


def _folded_parameters(conv: nn.Module, bn: nn.Module) -> tuple[nn.Parameter, nn.Parameter]:
    """The folded weight and bias as new Parameters (same arithmetic as the fused layer)."""
    channels = bn.num_features
    like = bn.running_mean
    gamma = bn.weight if bn.weight is not None else like.new_ones(channels)
    beta = bn.bias if bn.bias is not None else like.new_zeros(channels)
    bias = conv.bias if conv.bias is not None else like.new_zeros(channels)
    running_std = (bn.running_var + bn.eps).sqrt()
    scale = gamma / running_std
    weight = conv.weight * scale.reshape(-1, *([1] * (conv.weight.ndim - 1)))
    folded_bias = beta + (bias - bn.running_mean) * scale
    return nn.Parameter(weight.detach().clone()), nn.Parameter(folded_bias.detach().clone())


def _with_parameters(conv: nn.Module, cls: type[nn.Module], bn: nn.Module) -> nn.Module:
    """A module of class `cls` with `conv`'s members, its weight and bias folded with `bn`."""
    weight, bias = _folded_parameters(conv, bn)
    folded = cls.__new__(cls)
    for key, value in conv.__dict__.items():
        folded.__dict__[key] = type(value)(value) if isinstance(value, dict) else value
    folded._modules.pop("bn", None)
    folded.__dict__.pop("bn_name", None)
    folded._parameters["weight"] = weight
    folded._parameters["bias"] = bias
    return folded


def fold_fused_layers(model: nn.Module) -> nn.Module:
    """Only the first half of `fold_batchnorm`: every fused QuantConvBn layer becomes a plain
    quantized convolution with the folded weight and bias; in place, returns `model`."""
    for name, module in list(model.named_modules()):
        if isinstance(module, FUSED_MODULE_TYPES):
            plain = type(module).__mro__[2]  # QuantConvBn2d → _ConvBnMixin → QuantConv2d
            replace_submodule(model, name, _with_parameters(module, plain, module.bn))
    return model


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every batch norm that can be folded into its convolution, in place; returns `model`.

    Raises QuantizationError for a batch norm that follows a convolution quantized without
    `fold_batchnorm` (see the module docstring). Batch norms with no convolution before them
    stay as they are.
    """
    fold_fused_layers(model)
    pairs, _ = find_conv_bn_pairs(model)
    for pair in pairs:
        conv = model.get_submodule(pair.conv)
        bn = model.get_submodule(pair.bn)
        if isinstance(conv, QUANTIZED_MODULE_TYPES):
            raise QuantizationError(
                f"batch norm {pair.bn!r} follows layer {pair.conv!r}, which was quantized "
                "without folding: folding it now would change the quantized weights; quantize "
                "the float model with fold_batchnorm: true (and train), or export it unfolded"
            )
        replace_submodule(model, pair.conv, _with_parameters(conv, type(conv), bn))
        replace_submodule(model, pair.bn, nn.Identity())
    return model


__all__ = ["fold_batchnorm", "fold_fused_layers"]
