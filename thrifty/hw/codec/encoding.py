"""encode / decode / encoded_size_bits: bfloat16 tensors to and from the codec's bitstream.

The tensor is viewed as rows of channels: the channel dimension moved last, every other
dimension flattened (row-major) into positions. Each row is cut into groups of `group` values
and each group is delta-encoded on its own (layout in docs/codec.md). Only bfloat16 input is
accepted: the codec is lossless on bfloat16 bit patterns (NaN, ±Inf, -0.0 and subnormals
included), and a silent float32 → bfloat16 rounding would make that claim false.
"""

from __future__ import annotations

from math import prod

import numpy as np
import torch

from thrifty._config import parse_config
from thrifty.errors import ConfigError, NumericsError, TraceError
from thrifty.hw.codec import _kernels
from thrifty.hw.codec.config import CodecConfig, CodecMode
from thrifty.hw.codec.format import MODE_CODES, EncodedTensor


def channel_dim(ndim: int) -> int:
    """Default channel dimension of a tensor with `ndim` dimensions.

    Activations and gradients (N, C, H, W) or (N, C) → 1 (channels); weights (O, I, kh, kw) or
    (O, I) → 1 (input channels, the reduction dimension the PE walks); vectors (biases) → 0;
    scalars are one group of one value (0).
    """
    return 1 if ndim >= 2 else 0


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


def _rows(x: torch.Tensor, dim: int | None) -> tuple[np.ndarray, int]:
    """(positions, channels) uint16 bit patterns of `x` and the channel dimension used."""
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
        dim = channel_dim(ndim)
    elif not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ConfigError(
            f"dim {dim} is out of range for a tensor of shape {tuple(x.shape)}; pass a "
            f"dimension in [{-max(ndim, 1)}, {max(ndim, 1) - 1}] or None for the channel default"
        )
    dim = dim % max(ndim, 1)
    x = x.detach().to("cpu")
    if ndim == 0:
        x = x.reshape(1)
    moved = x.movedim(dim, -1).contiguous()
    channels = moved.shape[-1]
    bits = moved.view(torch.int16).numpy().view(np.uint16).reshape(-1, max(channels, 1))
    return bits, dim


def _total_bits(bits: np.ndarray, config: CodecConfig) -> int:
    if bits.size == 0:
        return 0
    sizes = _kernels.group_bits(bits, config.group, MODE_CODES[config.mode], config.zero_bitmap)
    return int(sizes.sum())


def encoded_size_bits(
    x: torch.Tensor, config: CodecConfig | None = None, *, dim: int | None = None
) -> int:
    """Payload bits `encode(x, config, dim=dim)` would produce, without building the bitstream.

    This is the off-chip size the DRAM model charges for `x` (plain bfloat16 is 16·numel).
    """
    config = resolve_config(config)
    bits, _ = _rows(x, dim)
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
    `channel_dim(x.dim())`).
    """
    config = resolve_config(config, group, mode, zero_bitmap)
    bits, dim = _rows(x, dim)
    nbits = _total_bits(bits, config)
    if nbits == 0:
        data = b""
    else:
        packed = _kernels.pack(
            bits, config.group, MODE_CODES[config.mode], config.zero_bitmap, nbits
        )
        data = packed.tobytes()
    return EncodedTensor(shape=tuple(x.shape), dim=dim, config=config, nbits=nbits, data=data)


def decode(encoded: EncodedTensor) -> torch.Tensor:
    """The bfloat16 tensor (on the CPU) that `encoded` holds, bit for bit."""
    shape = encoded.shape
    ndim = len(shape)
    work_shape = shape if ndim else (1,)
    dim = encoded.dim
    moved_shape = tuple(work_shape[:dim]) + tuple(work_shape[dim + 1 :]) + (work_shape[dim],)
    channels = moved_shape[-1]
    positions = prod(moved_shape[:-1])
    if prod(work_shape) == 0:
        bits = np.zeros((0,), dtype=np.uint16)
    else:
        config = encoded.config
        data = np.frombuffer(encoded.data, dtype=np.uint8)
        try:
            bits, used = _kernels.unpack(
                data, positions, channels, config.group, MODE_CODES[config.mode], config.zero_bitmap
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
    tensor = torch.from_numpy(bits.view(np.int16).copy()).view(torch.bfloat16)
    tensor = tensor.reshape(moved_shape).movedim(-1, dim)
    return tensor.reshape(shape)
