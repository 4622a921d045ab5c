"""Per-layer significand width of each layer's output gradient, through a backward hook.

Why
---
Per-layer-precision training (docs/design.md §3) gives every layer its own number of
significand bits for weights and activations (the learned `float_mantissa` quantizer). The third
training operand, the gradient of each layer's output (what backward-data and backward-weight
read), can also be narrowed: `quantize_gradients` rounds it to `k` fraction bits,
round-to-nearest-even, before the layer's backward uses it. At `k = 7` this is exactly the
bfloat16 cast of the gradient.

Why the width is fixed, not learned
-----------------------------------
A weight or activation bitlength is learned because the task loss depends on it: the forward
pass interpolates between k and k + 1 bits and the loss's derivative with respect to k is
defined. The gradient's precision does not enter the loss at all — it only changes the update
direction — so the loss has no derivative with respect to it and the only signal would be the
regularizer, which drives every width to its floor. A learned gradient width is therefore not
sound with this method; the width is a fixed per-layer setting (one default plus per-layer
overrides), chosen by the user, e.g. from the learned activation width of the same layer.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from thrifty.errors import ConfigError
from thrifty.quant.functional import mantissa_quantize

GRADIENT_MAX_FRACTION_BITS = 23
"""Widest setting: float32's 23 fraction bits (the gradient is left as it is)."""

BFLOAT16_FRACTION_BITS = 7
"""bfloat16's fraction bits: `k = 7` equals a bfloat16 cast."""

GRADIENT_LAYER_TYPES: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Linear)
"""Layers whose output gradient is rounded (subclasses included, e.g. quantized modules)."""


class GradientRounder:
    """A `register_full_backward_pre_hook` hook: rounds grad_output to `bits` fraction bits."""

    def __init__(self, bits: int) -> None:
        _check_bits(bits, "bits")
        self.bits = bits

    def __call__(
        self, module: nn.Module, grad_output: tuple[torch.Tensor | None, ...]
    ) -> tuple[torch.Tensor | None, ...]:
        return tuple(
            None if g is None or g.dtype != torch.float32 else mantissa_quantize(g, self.bits)
            for g in grad_output
        )


class GradientQuantization:
    """The hooks `quantize_gradients` attached; `remove()` detaches them all."""

    def __init__(self, bits: dict[str, int], handles: list[Any]) -> None:
        self.bits = bits
        """Fraction bits of each hooked layer's output gradient, by module name."""
        self._handles = handles

    def remove(self) -> None:
        """Detach every hook: gradients flow unrounded again."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def _check_bits(bits: Any, where: str) -> None:
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise ConfigError(f"{where} = {bits!r} must be an integer number of fraction bits")
    if not 0 <= bits <= GRADIENT_MAX_FRACTION_BITS:
        raise ConfigError(
            f"{where} = {bits} is outside [0, {GRADIENT_MAX_FRACTION_BITS}]; use 7 for "
            f"bfloat16 gradients or fewer for narrower ones"
        )


def quantize_gradients(
    model: nn.Module, bits: int = BFLOAT16_FRACTION_BITS, layers: Mapping[str, int] | None = None
) -> GradientQuantization:
    """Round the output gradient of every conv/linear layer of `model` to a fixed number of
    fraction bits: `layers[name]` for the named layers, `bits` for the others.

    The rounding happens in a full backward pre-hook, so the layer's backward-data and
    backward-weight both read the rounded gradient. Returns a handle whose `remove()` undoes it.
    """
    _check_bits(bits, "bits")
    overrides = dict(layers or {})
    targets = {
        name: module
        for name, module in model.named_modules()
        if name and isinstance(module, GRADIENT_LAYER_TYPES)
    }
    unknown = sorted(set(overrides) - set(targets))
    if unknown:
        raise ConfigError(
            f"gradient widths name layers {unknown} that are not conv/linear layers of "
            f"{type(model).__name__}; known: {sorted(targets)}"
        )
    # The first layer's input needs no gradient, so torch notes that its hook fires on the
    # output gradient only: that is exactly what is wanted here.
    warnings.filterwarnings("ignore", message="Full backward hook is firing when gradients")
    chosen: dict[str, int] = {}
    handles = []
    for name, module in targets.items():
        width = overrides.get(name, bits)
        _check_bits(width, f"gradient bits of layer {name!r}")
        chosen[name] = width
        handles.append(module.register_full_backward_pre_hook(GradientRounder(width)))
    return GradientQuantization(chosen, handles)


__all__ = [
    "BFLOAT16_FRACTION_BITS",
    "GradientQuantization",
    "GradientRounder",
    "quantize_gradients",
]
