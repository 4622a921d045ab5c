"""Bit-level views of bfloat16, float16 and float32, and float32 -> bfloat16 conversion.

Everything here works on raw bit patterns held in unsigned numpy integers, so that no value ever
passes through a float operation that could round it again. `to_bfloat16_bits` is equal, bit for
bit, to `torch.Tensor.to(torch.bfloat16)` for round-to-nearest-even (tested on every float32
class: normals, subnormals, overflow to infinity, NaN); truncation is offered for hardware that
simply drops the low half.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from thrifty.errors import NumericsError

Rounding = Literal["nearest", "truncate"]

#: The NaN bfloat16 pattern torch's CPU tensor conversion produces for every float32 NaN
#: (a 0-d tensor goes through a scalar path that gives 0x7FC0 instead; both are NaN).
BF16_NAN = 0xFFFF


@dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point format: field widths and exponent bias."""

    name: str
    exponent_bits: int
    fraction_bits: int

    @property
    def bias(self) -> int:
        """Exponent bias: value = significand * 2**(exponent - bias - fraction_bits)."""
        return (1 << (self.exponent_bits - 1)) - 1

    @property
    def max_exponent_field(self) -> int:
        """The all-ones exponent field that marks Inf and NaN."""
        return (1 << self.exponent_bits) - 1


BFLOAT16 = FloatFormat("bfloat16", exponent_bits=8, fraction_bits=7)
FLOAT16 = FloatFormat("float16", exponent_bits=5, fraction_bits=10)
FLOAT32 = FloatFormat("float32", exponent_bits=8, fraction_bits=23)
FORMATS = {f.name: f for f in (BFLOAT16, FLOAT16, FLOAT32)}

_TORCH_FORMATS = {torch.bfloat16: BFLOAT16, torch.float16: FLOAT16, torch.float32: FLOAT32}
_NUMPY_FORMATS = {np.dtype(np.float16): FLOAT16, np.dtype(np.float32): FLOAT32}
_UINT = {16: (np.uint16, torch.int16), 32: (np.uint32, torch.int32)}


@dataclass(frozen=True)
class Fields:
    """Sign, biased exponent field and significand of every element (numpy int arrays).

    `significand` includes the hidden bit for normal numbers (so it lies in
    [2**fraction_bits, 2**(fraction_bits + 1))), is the bare fraction for zeros and subnormals, and
    the fraction (NaN payload) for Inf/NaN. `value = (-1)**sign * significand *
    2**(max(exponent, 1) - bias - fraction_bits)` for every finite element.
    """

    format: FloatFormat
    sign: np.ndarray
    exponent: np.ndarray
    significand: np.ndarray

    @property
    def is_zero(self) -> np.ndarray:
        return (self.exponent == 0) & (self.significand == 0)

    @property
    def is_subnormal(self) -> np.ndarray:
        return (self.exponent == 0) & (self.significand != 0)

    @property
    def is_nonfinite(self) -> np.ndarray:
        return self.exponent == self.format.max_exponent_field


def float_bits(x: torch.Tensor | np.ndarray) -> tuple[np.ndarray, FloatFormat]:
    """The raw bit patterns of a bfloat16/float16/float32 tensor or array, with its format."""
    if isinstance(x, torch.Tensor):
        fmt = _TORCH_FORMATS.get(x.dtype)
        if fmt is None:
            raise NumericsError(
                f"dtype {x.dtype} has no bit view here; pass torch.bfloat16, torch.float16 or "
                "torch.float32"
            )
        width = 1 + fmt.exponent_bits + fmt.fraction_bits
        np_uint, torch_int = _UINT[width]
        bits = x.detach().cpu().contiguous().view(torch_int).numpy().view(np_uint)
        return bits, fmt
    array = np.asarray(x)
    fmt = _NUMPY_FORMATS.get(array.dtype)
    if fmt is None:
        raise NumericsError(
            f"numpy dtype {array.dtype} has no bit view here; pass float16 or float32 "
            "(bfloat16 data as a torch tensor)"
        )
    width = 1 + fmt.exponent_bits + fmt.fraction_bits
    return np.ascontiguousarray(array).view(_UINT[width][0]), fmt


def fields_from_bits(bits: np.ndarray, fmt: FloatFormat) -> Fields:
    """Split raw bit patterns of format `fmt` into sign, exponent field and significand."""
    bits = np.asarray(bits).astype(np.int64)
    fraction = bits & ((1 << fmt.fraction_bits) - 1)
    exponent = (bits >> fmt.fraction_bits) & fmt.max_exponent_field
    sign = (bits >> (fmt.exponent_bits + fmt.fraction_bits)) & 1
    normal = (exponent != 0) & (exponent != fmt.max_exponent_field)
    significand = np.where(normal, fraction | (1 << fmt.fraction_bits), fraction)
    return Fields(fmt, sign, exponent, significand)


def fields(x: torch.Tensor | np.ndarray) -> Fields:
    """Sign, exponent field and significand of a bfloat16, float16 or float32 tensor/array."""
    bits, fmt = float_bits(x)
    return fields_from_bits(bits, fmt)


def to_bfloat16_bits(x: torch.Tensor | np.ndarray, rounding: Rounding = "nearest") -> np.ndarray:
    """bfloat16 bit patterns (uint16) of float32 (or bfloat16) data.

    `rounding="nearest"` is round-to-nearest-even, identical to `x.to(torch.bfloat16)`: finite
    values that round past the largest bfloat16 become Inf and every NaN becomes 0xFFFF.
    `rounding="truncate"` keeps the top 16 bits (round toward zero), except that a NaN stays a NaN.
    """
    if rounding not in ("nearest", "truncate"):
        raise NumericsError(f"rounding {rounding!r} is unknown; use 'nearest' or 'truncate'")
    if isinstance(x, torch.Tensor) and x.dtype == torch.bfloat16:
        return float_bits(x)[0].copy()
    bits, fmt = float_bits(x)
    if fmt is not FLOAT32:
        raise NumericsError(
            f"cannot convert {fmt.name} data to bfloat16 bits; pass float32 or bfloat16 data"
        )
    u = bits.astype(np.uint32)
    is_nan = (u & 0x7FFFFFFF) > 0x7F800000
    if rounding == "nearest":
        bias = ((u >> 16) & 1) + np.uint32(0x7FFF)
        out = ((u.astype(np.uint64) + bias) >> 16).astype(np.uint16)
    else:
        out = (u >> 16).astype(np.uint16)
    return np.asarray(np.where(is_nan, np.uint16(BF16_NAN), out), dtype=np.uint16)


def bfloat16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """float32 values of bfloat16 bit patterns (exact: bfloat16 is the top half of float32)."""
    return (np.asarray(bits).astype(np.uint32) << 16).view(np.float32)


def bfloat16_bits_to_tensor(bits: np.ndarray) -> torch.Tensor:
    """A torch.bfloat16 tensor holding the given bit patterns."""
    return torch.from_numpy(np.ascontiguousarray(bits, dtype=np.uint16).view(np.int16)).view(
        torch.bfloat16
    )
