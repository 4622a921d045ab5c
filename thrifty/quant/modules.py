"""Quantized layers: subclasses of the float layers that quantize their weight and their input.

`QuantConv2d.from_float(conv, ...)` reuses the float module's parameters (the same Parameter
objects, so state-dict keys `weight`/`bias` and any optimizer holding them keep working) and
adds three submodules: `weight_quantizer`, `input_quantizer` and `operand_tap`. `forward`
quantizes the input and the weight, passes both through `operand_tap` (an identity on which the
trace capture hooks to see the operands exactly as multiplied), then calls the float class's own
convolution (`_conv_forward`) or `F.linear`.

Each forward also records the per-sample MACs and input elements of the layer from the shapes
it saw (`macs`, `activation_elements`), which the bitops and memory costs read.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from thrifty.errors import QuantizationError
from thrifty.quant.config import QuantizerConfig
from thrifty.quant.layout import activation_layout, reduce_range, weight_layout
from thrifty.quant.leaf_input import (
    attach_input_bits,
    leaf_convolution,
    numeric_padding,
    takes_leaf_convolution,
)
from thrifty.quant.quantizers import ActivationQuantizer, WeightQuantizer

#: Default weight of each batch in the activation-range moving average (see QuantConfig).
DEFAULT_EMA_MOMENTUM = 0.1


class OperandTap(nn.Module):
    """Identity on the two operands of the multiplication; a place to hang forward hooks."""

    def forward(self, x_q: torch.Tensor, w_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x_q, w_q


_FLOAT_TYPES = (nn.Conv1d, nn.Conv2d, nn.Linear)


class _QuantMixin:
    """Construction shared by the quantized layers (from_float) and their bookkeeping."""

    weight_quantizer: WeightQuantizer
    input_quantizer: ActivationQuantizer
    operand_tap: OperandTap
    #: The quantizer submodules, for freeze / checkpoints / bit_parameters.
    quantizer_roles: tuple[str, ...] = ("weight_quantizer", "input_quantizer")
    #: Position of the input-channel dimension counted from the end of the input tensor.
    _channel_dim_from_end: int
    _in_channels_attr: str

    @classmethod
    def _float_type(cls) -> type[nn.Module]:
        """The float layer class this quantized class extends (nn.Conv1d, nn.Conv2d, nn.Linear)."""
        return next(base for base in cls.__mro__ if base in _FLOAT_TYPES)

    def _quantized_operands(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The input and the weight as the layer multiplies them, passed through `operand_tap`."""
        return self.operand_tap(self.input_quantizer(x), self.weight_quantizer(self.weight))

    def _input_bits_gradient(
        self, gap: torch.Tensor, grad_out: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        """⟨G, P(gap, W)⟩ (float64) for the layer's product P: see `leaf_input.py`."""
        raise NotImplementedError

    def _quantized_output(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """The layer's output from its quantized operands. An input that needs no gradient (a
        network's first layer) gets its bitlength's gradient through the product
        (`leaf_input.py`) instead of through an input gradient the float layer never forms."""
        if not self.input_quantizer.takes_leaf_path(x):
            x_q, w_q = self._quantized_operands(x)
            return self._biased_product(x_q, w_q, bias)
        x_q, gap, n = self.input_quantizer.leaf_levels(x)
        x_q, w_q = self.operand_tap(x_q, self.weight_quantizer(self.weight))
        if takes_leaf_convolution(self):
            return leaf_convolution(self, x_q, gap, w_q, bias, n)
        out = self._biased_product(x_q, w_q, bias)
        return attach_input_bits(out, n, gap, w_q, self._input_bits_gradient)

    def _biased_product(
        self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        raise NotImplementedError

    @classmethod
    def from_float(
        cls,
        module: nn.Module,
        weight_config: QuantizerConfig | None = None,
        activation_config: QuantizerConfig | None = None,
        name: str = "",
        ema_momentum: float = DEFAULT_EMA_MOMENTUM,
        training_range: str = "batch",
    ):
        """A quantized copy of `module` sharing its parameters, buffers and hooks.

        Raises QuantizationError naming the layer when a granularity does not fit its shape.
        """
        float_type = cls._float_type()
        if type(module) is not float_type:
            raise QuantizationError(
                f"{cls.__name__}.from_float needs an exact {float_type.__name__}, got "
                f"{type(module).__name__} for layer {name!r}"
            )
        weight_config = weight_config or QuantizerConfig()
        activation_config = activation_config or QuantizerConfig()
        quantized = cls.__new__(cls)
        for key, value in module.__dict__.items():  # new registries, same members
            quantized.__dict__[key] = type(value)(value) if isinstance(value, dict) else value
        channels = getattr(module, cls._in_channels_attr)
        try:
            w_layout = weight_layout(tuple(module.weight.shape), weight_config.granularity)
        except ValueError as error:
            raise QuantizationError(
                f"layer {name!r} ({type(module).__name__}): weight granularity "
                f"{weight_config.granularity.to_yaml()!r} does not fit: {error}; choose a group "
                f"size that divides it, 'channel' or 'tensor', or add an override for {name!r}"
            ) from None
        try:
            a_layout = activation_layout(
                channels, cls._channel_dim_from_end, activation_config.granularity
            )
        except ValueError as error:
            raise QuantizationError(
                f"layer {name!r} ({type(module).__name__}): activation granularity "
                f"{activation_config.granularity.to_yaml()!r} does not fit: {error}; choose a "
                f"group size that divides it, 'channel' or 'tensor', or add an override for "
                f"{name!r}"
            ) from None
        device = module.weight.device
        quantized.weight_quantizer = WeightQuantizer(weight_config, w_layout, name).to(device)
        if weight_config.enabled and weight_config.range == "learned":
            viewed, dims, _ = w_layout.view(module.weight.detach())
            quantized.weight_quantizer.init_range_(*reduce_range(viewed, dims))
        quantized.input_quantizer = ActivationQuantizer(
            activation_config, a_layout, name, ema_momentum, training_range
        ).to(device)
        quantized.operand_tap = OperandTap()
        quantized.layer_name = name
        quantized.macs = None
        quantized.activation_elements = None
        return quantized

    def to_float(self) -> nn.Module:
        """The float module again (same parameters), without the quantizers."""
        float_type = self._float_type()
        module = float_type.__new__(float_type)
        for key, value in self.__dict__.items():
            module.__dict__[key] = type(value)(value) if isinstance(value, dict) else value
        for key in ("weight_quantizer", "input_quantizer", "operand_tap"):
            module._modules.pop(key, None)
        for key in ("layer_name", "macs", "activation_elements"):
            module.__dict__.pop(key, None)
        return module

    def _record(self, x: torch.Tensor, out: torch.Tensor, reduction: int) -> None:
        batched = x.ndim > self._channel_dim_from_end  # else (C, *spatial) or (F,)
        batch = max(x.shape[0], 1) if batched else 1
        self.macs = out.numel() // batch * reduction
        self.activation_elements = x.numel() // batch


class _QuantConvMixin(_QuantMixin):
    """The forward pass shared by the quantized convolutions."""

    _in_channels_attr = "in_channels"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._quantized_output(x, self.bias)
        self._record(x, out, math.prod(self.weight.shape[1:]))
        return out

    def _input_bits_gradient(
        self, gap: torch.Tensor, grad_out: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        """⟨dW(gap, G), W⟩ through the convolution's weight-gradient product; a padding given
        as 'same' goes through the forward product instead, ⟨G, conv(gap, W)⟩."""
        if self.padding == "same":
            response = self._conv_forward(gap, weight, None)
            return torch.sum(grad_out * response, dtype=torch.float64)
        dims = len(self.kernel_size)
        padding = numeric_padding(self)
        if self.padding_mode != "zeros":
            gap = F.pad(gap, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            padding = (0,) * dims
        _, grad_weight, _ = torch.ops.aten.convolution_backward(
            grad_out, gap, weight, None, self.stride, padding, self.dilation,
            False, (0,) * dims, self.groups, (False, True, False),
        )  # fmt: skip
        return torch.sum(grad_weight * weight, dtype=torch.float64)

    def _biased_product(
        self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        return self._conv_forward(x, weight, bias)


class QuantConv1d(_QuantConvMixin, nn.Conv1d):
    """nn.Conv1d with quantized weight and input; build with `QuantConv1d.from_float(conv)`."""

    _channel_dim_from_end = 2


class QuantConv2d(_QuantConvMixin, nn.Conv2d):
    """nn.Conv2d with quantized weight and input; build with `QuantConv2d.from_float(conv)`."""

    _channel_dim_from_end = 3


class QuantLinear(_QuantMixin, nn.Linear):
    """nn.Linear with quantized weight and input; build with `QuantLinear.from_float(linear)`."""

    _channel_dim_from_end = 1
    _in_channels_attr = "in_features"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._quantized_output(x, self.bias)
        self._record(x, out, self.in_features)
        return out

    def _input_bits_gradient(
        self, gap: torch.Tensor, grad_out: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        """⟨Gᵀ·gap, W⟩: the weight-gradient product with the gap as input."""
        grad_weight = grad_out.reshape(-1, self.out_features).T @ gap.reshape(-1, self.in_features)
        return torch.sum(grad_weight * weight, dtype=torch.float64)

    def _biased_product(
        self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        return F.linear(x, weight, bias)


#: The quantized layers with a weight, for isinstance checks (thrifty.quant.quantize's
#: QUANTIZED_TYPES adds the quantized product of two activations, QuantMatMul).
QUANTIZED_MODULE_TYPES: tuple[type[nn.Module], ...] = (QuantConv1d, QuantConv2d, QuantLinear)

#: Float layer type → its quantized class.
QUANTIZED_CLASS_FOR: dict[type[nn.Module], type[nn.Module]] = {
    nn.Conv1d: QuantConv1d,
    nn.Conv2d: QuantConv2d,
    nn.Linear: QuantLinear,
}
