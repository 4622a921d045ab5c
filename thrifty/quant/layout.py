"""Where the values sharing one bitlength sit in a weight or activation tensor.

A `Layout` turns a granularity into shapes: the shape of the bitlength parameter, the view of
the tensor whose trailing or inner dimensions are reduced to get one range per bitlength, and the
keepdim shape that broadcasts a bitlength or a range against that view.

- Weights (O, *rest): "tensor" → one value; "channel" → (O,), over the (O, R) view with
  R = prod(rest) = in_channels/groups × kernel (the reduction dimension of each output channel);
  ("group", G) → (O, R/G) over the (O, R/G, G) view.
- Activations (N, C, *spatial) for convolutions, (..., F) for linear layers: "channel" → (C,)
  per input channel; ("group", G) → (C/G,), G consecutive input channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from thrifty.quant.config import Granularity


@dataclass(frozen=True)
class Layout:
    """Shapes for one tensor role. `channel_dim_from_end`: position of the channel dimension
    counted from the end of the activation tensor (spatial dims + 1 for convolutions, 1 for
    linear); None for weights."""

    granularity: Granularity
    bits_shape: tuple[int, ...]
    channel_dim_from_end: int | None

    def view(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...], tuple[int, ...]]:
        """(view of x, dims to reduce for the range, keepdim shape of a bitlength)."""
        kind = self.granularity.kind
        if kind == "tensor":
            return x, tuple(range(x.ndim)), (1,) * x.ndim
        if self.channel_dim_from_end is None:  # weight
            out_channels = x.shape[0]
            if kind == "channel":
                return x.reshape(out_channels, -1), (1,), (out_channels, 1)
            size = self.granularity.group_size
            viewed = x.reshape(out_channels, -1, size)
            return viewed, (2,), (out_channels, viewed.shape[1], 1)
        dim = x.ndim - self.channel_dim_from_end
        if kind == "channel":
            keep = [1] * x.ndim
            keep[dim] = x.shape[dim]
            return x, tuple(d for d in range(x.ndim) if d != dim), tuple(keep)
        size = self.granularity.group_size
        shape = (*x.shape[:dim], x.shape[dim] // size, size, *x.shape[dim + 1 :])
        viewed = x.reshape(shape)
        keep = [1] * viewed.ndim
        keep[dim] = shape[dim]
        return viewed, tuple(d for d in range(viewed.ndim) if d != dim), tuple(keep)


def weight_layout(weight_shape: tuple[int, ...], granularity: Granularity) -> Layout:
    """Layout of a weight (O, *rest); raises ValueError if a group size does not divide R."""
    out_channels = weight_shape[0]
    reduction = math.prod(weight_shape[1:])
    if granularity.kind == "tensor":
        return Layout(granularity, (), None)
    if granularity.kind == "channel":
        return Layout(granularity, (out_channels,), None)
    size = granularity.group_size
    if reduction % size:
        raise ValueError(
            f"group size {size} does not divide the reduction dimension {reduction} "
            f"(weight shape {tuple(weight_shape)})"
        )
    return Layout(granularity, (out_channels, reduction // size), None)


def activation_layout(channels: int, channel_dim_from_end: int, granularity: Granularity) -> Layout:
    """Layout of an input activation with `channels` input channels."""
    if granularity.kind == "tensor":
        return Layout(granularity, (), channel_dim_from_end)
    if granularity.kind == "channel":
        return Layout(granularity, (channels,), channel_dim_from_end)
    size = granularity.group_size
    if channels % size:
        raise ValueError(f"group size {size} does not divide the {channels} input channels")
    return Layout(granularity, (channels // size,), channel_dim_from_end)


def reduce_range(viewed: torch.Tensor, dims: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(min, max) over `dims`, keepdim (NaN propagates into both).

    Two reductions, `amin` and `amax`, on purpose: the one-pass `torch.aminmax` is 50–150×
    slower on CPU in torch 2.x (e.g. 16 ms against 0.2 ms on a 2 M-value activation), which
    made it the largest single cost of a quantized training step.
    """
    return viewed.amin(dim=dims, keepdim=True), viewed.amax(dim=dims, keepdim=True)
