"""The packed integer checkpoint: each quantized weight stored as its integer codes, bit-packed
at its learned width, beside its range; loading it rebuilds the frozen model bit for bit.

Container: a safetensors file (a JSON header, then raw little-endian tensors), written
atomically. For every weight whose quantizer is enabled, with key K (e.g. `conv1.weight`):

- `K.codes`  uint8, the bit stream: the weight viewed as its quantizer groups see it (per
             tensor: flat; per channel: (O, R); per group: (O, R/G, G)), in C order, each value
             as its code at the width of its group (LSB first, no padding between values; one
             stream per tensor, padded to a whole byte at its end).
- `K.lo`, `K.hi`  float32, the range of each group (the bitlength's shape).

A code k ∈ [0, 2^b − 1] dequantizes as thrifty's quantizer computes it: with step
Δ = (hi − lo)/(2^b − 1), value = k·Δ + lo (int kind); for int_symmetric, with
Δ = max(|lo|, |hi|)/(2^(b−1) − 1), the stored k is the signed code plus 2^(b−1) − 1 and the
value (k − 2^(b−1) + 1)·Δ. (In the usual scale/zero-point terms: scale Δ, and the real value of
code 0, lo, as the zero offset.) The bitlengths are the quantizers' own `bitlength` entries.
Every other entry of the model's state dict (biases, bitlengths, activation ranges, weights
left in float) is stored as it is; the header's metadata holds the QuantConfig, the thrifty
version and a per-tensor index.

Bit for bit: the loaded weight is the dequantized grid with the codes at the ends of each
range set to the range ends themselves, so the weight quantizer, which takes its range from the
weight, finds the same range, the same step and the same codes, and multiplies exactly the
values the saved model multiplied.

Size: the codes take ceil(Σ elements·bits / 8) bytes per tensor: the weight part of
`summary().memory_weighted_bits` (which also counts per-sample activations) over 8, plus at most
one byte per tensor; `PackedSize` splits a file's bytes into codes, other tensors and header.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_save
from torch import nn

from thrifty._io import write_bytes_atomic
from thrifty._version import __version__
from thrifty.errors import CheckpointError
from thrifty.export.params import (
    deployment_copy,
    quantized_layer_list,
    refuse_float_mantissa,
    tensor_quantization,
)
from thrifty.quant.config import QuantConfig
from thrifty.quant.folding import fold_fused_layers
from thrifty.quant.functional import level_step
from thrifty.quant.quantize import freeze, quantization_info, quantize

FORMAT = "thrifty.packed"
FORMAT_VERSION = 1
_METADATA_KEY = "thrifty"


@dataclass(frozen=True)
class PackedSize:
    """Where a packed file's bytes go (all in bytes, except `weight_bits`)."""

    file_bytes: int
    codes_bytes: int
    weight_bits: int
    other_tensor_bytes: int
    header_bytes: int
    packed_tensors: int

    def to_dict(self) -> dict[str, int]:
        """JSON-ready."""
        return dict(self.__dict__)


# ----------------------------------------------------------------------------- bit packing
def pack_codes(codes: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Non-negative integer codes at per-value widths (1..16 bits) → a little-endian bit stream."""
    codes, widths = codes.astype(np.int64).ravel(), widths.astype(np.int64).ravel()
    offsets = np.cumsum(widths) - widths
    bits = np.zeros(int(widths.sum()), dtype=np.uint8)
    for j in range(int(widths.max(initial=0))):
        chosen = widths > j
        bits[offsets[chosen] + j] = (codes[chosen] >> j) & 1
    return np.packbits(bits, bitorder="little")


def unpack_codes(stream: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """The inverse of `pack_codes`."""
    widths = widths.astype(np.int64).ravel()
    offsets = np.cumsum(widths) - widths
    bits = np.unpackbits(stream, count=int(widths.sum()), bitorder="little").astype(np.int64)
    codes = np.zeros(widths.size, dtype=np.int64)
    for j in range(int(widths.max(initial=0))):
        chosen = widths > j
        codes[chosen] |= bits[offsets[chosen] + j] << j
    return codes


# ------------------------------------------------------------------------- the grid maths
def _step(bits: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, symmetric: bool):
    """(step, levels above zero) in float32, as thrifty's quantizer computes them."""
    b = bits.to(torch.float32)
    if symmetric:
        levels = torch.exp2(b - 1.0) - 1.0
        scale = torch.maximum(lo.abs(), hi.abs())
        return level_step(scale, levels), levels
    levels = torch.exp2(b) - 1.0
    span = hi - lo
    return level_step(span, levels), levels


def _grid(bits, lo, hi, keep, symmetric):
    step, levels = _step(bits, lo, hi, symmetric)
    return step.reshape(keep), levels.reshape(keep), lo.reshape(keep), hi.reshape(keep)


def dequantize_codes(
    codes: torch.Tensor, bits, lo, hi, keep: tuple[int, ...], kind: str
) -> torch.Tensor:
    """Stored codes (the weight's view shape) → the values thrifty's quantizer produces."""
    step, levels, low, _ = _grid(bits, lo, hi, keep, kind == "int_symmetric")
    if kind == "int_symmetric":
        return (codes.to(torch.float32) - levels) * step
    return codes.to(torch.float32) * step + low


# --------------------------------------------------------------------------------- save
def _layer_prefix(name: str) -> str:
    return f"{name}." if name else ""


def save_packed(
    model: nn.Module, path: str | Path, provenance: dict[str, Any] | None = None
) -> PackedSize:
    """Write the frozen quantized `model` as a packed checkpoint (see the module docstring);
    `provenance`: more entries for the header's metadata (e.g. the run's config and seed)."""
    deployed = deployment_copy(model)
    info = quantization_info(model)
    state = {k: v.detach().cpu().contiguous() for k, v in deployed.state_dict().items()}
    tensors: dict[str, torch.Tensor] = {}
    index: dict[str, dict] = {}
    weight_bits = 0
    for name, layer in quantized_layer_list(deployed):
        quant = tensor_quantization(name, layer, "weight")
        if quant is None:
            continue
        refuse_float_mantissa(quant, "packed")
        key = _layer_prefix(name) + "weight"
        viewed, _, keep = quant.layout.view(layer.weight.detach())
        symmetric = quant.kind == "int_symmetric"
        step, levels, low, _ = _grid(quant.bits, quant.lo, quant.hi, keep, symmetric)
        codes = (
            torch.round(viewed / step) + levels if symmetric else torch.round((viewed - low) / step)
        )
        widths = quant.bits.reshape(keep).expand(viewed.shape)
        stream = pack_codes(codes.to(torch.int64).numpy(), widths.numpy())
        weight_bits += int(widths.sum())
        tensors[f"{key}.codes"] = torch.from_numpy(stream)
        tensors[f"{key}.lo"], tensors[f"{key}.hi"] = quant.lo, quant.hi
        index[key] = {"shape": list(layer.weight.shape), "kind": quant.kind, "layer": name}
        del state[key]
    tensors.update(state)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "thrifty_version": __version__,
        "quant_config": info.config.model_dump(mode="json"),
        "packed": index,
        **(provenance or {}),
    }
    data = safetensors_save(tensors, metadata={_METADATA_KEY: json.dumps(metadata)})
    write_bytes_atomic(path, data)
    codes_bytes = sum(tensors[f"{k}.codes"].numel() for k in index)
    other = sum(t.numel() * t.element_size() for t in tensors.values()) - codes_bytes
    return PackedSize(
        file_bytes=len(data),
        codes_bytes=codes_bytes,
        weight_bits=weight_bits,
        other_tensor_bytes=other,
        header_bytes=len(data) - codes_bytes - other,
        packed_tensors=len(index),
    )


# --------------------------------------------------------------------------------- load
def _read(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    if not path.is_file():
        raise CheckpointError(f"packed checkpoint {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get(_METADATA_KEY)
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except Exception as error:  # safetensors raises several types for a damaged file
        raise CheckpointError(f"{str(path)!r} cannot be read as safetensors: {error}") from None
    metadata = json.loads(raw) if raw else {}
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(path)!r} is not a thrifty packed checkpoint (written by thrifty export "
            "--format packed or thrifty.export.save_packed)"
        )
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"packed checkpoint {str(path)!r} has format version "
            f"{metadata.get('format_version')!r}; this thrifty reads version {FORMAT_VERSION}"
        )
    return metadata, tensors


def _bits_of(tensors: dict[str, torch.Tensor], layer: str) -> torch.Tensor:
    return tensors[f"{_layer_prefix(layer)}weight_quantizer.bitlength"].to(torch.int64)


def packed_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The dequantized value of every packed weight (key → tensor of the weight's shape)."""
    metadata, tensors = _read(Path(path))
    weights = {}
    for key, entry in metadata["packed"].items():
        weights[key] = _unpacked(key, entry, tensors, exact_ends=False)
    return weights


def _unpacked(key: str, entry: dict, tensors: dict, exact_ends: bool) -> torch.Tensor:
    """The weight of `key` from its codes; `exact_ends` sets the range-end codes to lo / hi."""
    shape = tuple(entry["shape"])
    lo, hi = tensors[f"{key}.lo"], tensors[f"{key}.hi"]
    bits = _bits_of(tensors, entry["layer"])
    keep_shape = _keep_shape(shape, bits.shape)
    view_shape = _view_shape(shape, bits.shape)
    widths = bits.reshape(keep_shape).expand(view_shape)
    codes = unpack_codes(tensors[f"{key}.codes"].numpy(), widths.numpy())
    codes = torch.from_numpy(codes).reshape(view_shape)
    values = dequantize_codes(codes, bits, lo, hi, keep_shape, entry["kind"])
    if exact_ends:
        symmetric = entry["kind"] == "int_symmetric"
        _, levels, low, high = _grid(bits, lo, hi, keep_shape, symmetric)
        if symmetric:
            scale = torch.maximum(low.abs(), high.abs()).expand(view_shape)
            values = torch.where(codes == 2 * levels, scale, values)
            values = torch.where(codes == 0, -scale, values)
        else:
            values = torch.where(codes == levels, high.expand(view_shape), values)
            values = torch.where(codes == 0, low.expand(view_shape), values)
    return values.reshape(shape)


def _view_shape(shape: tuple[int, ...], bits_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The quantizer's view of a weight of `shape` whose bitlength has `bits_shape`."""
    if len(bits_shape) == 0:
        return shape
    out_channels = shape[0]
    reduction = int(np.prod(shape[1:]))
    if len(bits_shape) == 1:
        return (out_channels, reduction)
    groups = bits_shape[1]
    return (out_channels, groups, reduction // groups)


def _keep_shape(shape: tuple[int, ...], bits_shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(bits_shape) == 0:
        return (1,) * len(shape)
    if len(bits_shape) == 1:
        return (shape[0], 1)
    return (shape[0], bits_shape[1], 1)


def load_packed(float_model: nn.Module, path: str | Path) -> nn.Module:
    """Rebuild the frozen, batch-norm-folded quantized model from a packed checkpoint.

    `float_model` is the user's float model (the architecture); it is quantized with the stored
    config, its fused layers folded, every bitlength frozen, and the stored state loaded with
    the weights decoded from their codes. Returns it in evaluation mode.
    """
    path = Path(path)
    metadata, tensors = _read(path)
    config = QuantConfig.model_validate(metadata["quant_config"])
    model = fold_fused_layers(quantize(float_model, config))
    freeze(model)
    state = {k: v for k, v in tensors.items() if not k.endswith((".codes", ".lo", ".hi"))}
    for key, entry in metadata["packed"].items():
        state[key] = _unpacked(key, entry, tensors, exact_ends=True)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"packed checkpoint {str(path)!r} does not match the model "
            f"{type(model).__name__}: {error}"
        ) from None
    return model.eval()


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "PackedSize",
    "dequantize_codes",
    "load_packed",
    "pack_codes",
    "packed_weights",
    "save_packed",
    "unpack_codes",
]
