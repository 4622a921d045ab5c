"""encode / decode / encoded_size_bits: bfloat16 tensors to and from the codec's bitstream.

The tensor is viewed around its channel dimension `dim`: the positions are the index tuples of
the other dimensions in row-major order, and at each position the channels are cut into groups
of `group` values, each delta-encoded on its own (layout in docs/codec.md). Only bfloat16 input is
accepted: the codec is lossless on bfloat16 bit patterns (NaN, ±Inf, -0.0 and subnormals
included), and a silent float32 → bfloat16 rounding would make that claim false.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import numpy as np
import torch

from thrifty._config import parse_config
from thrifty.errors import ConfigError, NumericsError, TraceError
from thrifty.hw.codec import _kernels
from thrifty.hw.codec.config import CodecConfig, CodecMode
from thrifty.hw.codec.format import MODE_CODES, EncodedTensor


def channel_dim(shape: Sequence[int]) -> int:
    """Default grouping dimension of a tensor of `shape`: its channel dimension.

    Activations and gradients (N, C, H, W) or (N, C) → 1 (channels); weights (O, I, kh, kw) or
    (O, I) → 1 (input channels, the reduction dimension the PE walks); vectors (biases) → 0;
    scalars are one group of one value (0). When dimension 1 holds a single element (a
    one-channel input image (N, 1, H, W), a first-layer weight (O, 1, kh, kw)) there is nothing
    to group across, so the groups run along dimension 0 (images of the batch, output
    channels) instead.
    """
    if len(shape) < 2 or shape[1] == 1:
        return 0
    return 1


def resolve_config(
    config: CodecConfig | None,
    group: int | None = None,
    mode: CodecMode | None = None,
    zero_bitmap: bool | None = None,
) -> CodecConfig:
    """`config` (default CodecConfig()) with the given fields replaced, validated."""
    base = config if config is not None else CodecConfig()
    overrides = {
        key: value
        for key, value in (("group", group), ("mode", mode), ("zero_bitmap", zero_bitmap))
        if value is not None
    }
    if not overrides:
        return base
    return parse_config(CodecConfig, {**base.model_dump(), **overrides}, "codec config")


def _around_dim(shape: tuple[int, ...], dim: int) -> tuple[int, int, int]:
    """(outer, channels, inner): `shape` seen as three dimensions around `dim`."""
    shape = shape if shape else (1,)
    return prod(shape[:dim]), shape[dim], prod(shape[dim + 1 :])


def _view(x: torch.Tensor, dim: int | None) -> tuple[np.ndarray, int]:
    """(outer, channels, inner) uint16 bit patterns of `x` and the channel dimension used.

    A view of the contiguous tensor: the kernels walk the channels with a stride instead of
    moving the channel dimension last with a copy.
    """
    if not isinstance(x, torch.Tensor):
        raise NumericsError(
            f"the codec encodes torch tensors, got {type(x).__name__}; pass "
            f"torch.as_tensor(x, dtype=torch.bfloat16)"
        )
    if x.dtype != torch.bfloat16:
        raise NumericsError(
            f"the codec is lossless for bfloat16 tensors only, got {x.dtype}; convert "
            f"explicitly with x.to(torch.bfloat16) (rounds to nearest even) if that is what "
            f"the accelerator would store"
        )
    if x.layout != torch.strided:
        raise NumericsError(
            f"the codec needs a dense tensor, got layout {x.layout}; use x.to_dense()"
        )
    ndim = x.dim()
    if dim is None:
        dim = channel_dim(tuple(x.shape))
    elif not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ConfigError(
            f"dim {dim} is out of range for a tensor of shape {tuple(x.shape)}; pass a "
            f"dimension in [{-max(ndim, 1)}, {max(ndim, 1) - 1}] or None for the channel default"
        )
    dim = dim % max(ndim, 1)
    x = x.detach().to("cpu").contiguous()
    flat = x.view(torch.int16).numpy().view(np.uint16)
    return flat.reshape(_around_dim(tuple(x.shape), dim)), dim


def _total_bits(bits: np.ndarray, config: CodecConfig) -> int:
    if bits.size == 0:
        return 0
    return int(_kernels.total_bits(bits, config.group, MODE_CODES[config.mode], config.zero_bitmap))


def encoded_size_bits(
    x: torch.Tensor, config: CodecConfig | None = None, *, dim: int | None = None
) -> int:
    """Payload bits `encode(x, config, dim=dim)` would produce, without building the bitstream.

    This is the off-chip size the DRAM model charges for `x` (plain bfloat16 is 16·numel).
    """
    config = resolve_config(config)
    bits, _ = _view(x, dim)
    return _total_bits(bits, config)


def encode(
    x: torch.Tensor,
    config: CodecConfig | None = None,
    *,
    group: int | None = None,
    mode: CodecMode | None = None,
    zero_bitmap: bool | None = None,
    dim: int | None = None,
) -> EncodedTensor:
    """Encode the bfloat16 tensor `x` losslessly into an EncodedTensor.

    `config` gives the codec settings (default CodecConfig(): groups of 16, exponent delta,
    zero bitmap); `group`, `mode` and `zero_bitmap` replace single fields of it, so
    `encode(x, group=8)` works. `dim` is the channel dimension the groups run along (default
    `channel_dim(x.shape)`).
    """
    config = resolve_config(config, group, mode, zero_bitmap)
    bits, dim = _view(x, dim)
    if bits.size == 0:
        nbits, data = 0, b""
    else:
        outer, channels, inner = bits.shape
        groups = outer * inner * -(-channels // config.group)
        mode_code = MODE_CODES[config.mode]
        capacity = _kernels.max_bits(bits.size, groups, mode_code, config.zero_bitmap)
        packed, nbits = _kernels.pack(bits, config.group, mode_code, config.zero_bitmap, capacity)
        nbits = int(nbits)
        data = packed[: (nbits + 7) // 8].tobytes()
    return EncodedTensor(shape=tuple(x.shape), dim=dim, config=config, nbits=nbits, data=data)


def decode(encoded: EncodedTensor) -> torch.Tensor:
    """The bfloat16 tensor (on the CPU) that `encoded` holds, bit for bit."""
    shape = encoded.shape
    outer, channels, inner = _around_dim(shape, encoded.dim)
    if prod(shape) == 0:
        bits = np.zeros((0,), dtype=np.uint16)
    else:
        config = encoded.config
        data = np.frombuffer(encoded.data, dtype=np.uint8)
        try:
            bits, used = _kernels.unpack(
                data,
                outer,
                channels,
                inner,
                config.group,
                MODE_CODES[config.mode],
                config.zero_bitmap,
            )
        except (IndexError, ValueError) as error:
            raise TraceError(
                f"encoded tensor of shape {shape} is corrupted ({error}); re-encode it"
            ) from None
        if used != len(encoded.data):
            raise TraceError(
                f"encoded tensor of shape {shape} has {len(encoded.data) - used} trailing bytes "
                f"after its last group; the data does not match its shape"
            )
    return torch.from_numpy(bits.view(np.int16)).view(torch.bfloat16).reshape(shape)
