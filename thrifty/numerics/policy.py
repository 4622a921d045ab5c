"""What happens to bfloat16 values the PE cannot process: subnormals and NaN/Inf.

The term-serial PE (docs/design.md §4) works on normal bfloat16 numbers and zeros only.
Subnormals are flushed to zero by default (and counted, so a report can say how many); NaN and
Inf are an error by default — the message says how many there are and where the first one is —
or, on request, counted and replaced by zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from thrifty.errors import NumericsError

SubnormalPolicy = Literal["flush", "error"]
NonfinitePolicy = Literal["error", "zero"]

_EXPONENT_MASK = 0x7F80
_FRACTION_MASK = 0x007F


@dataclass(frozen=True)
class PolicyCounts:
    """How many elements a policy changed: subnormals flushed, NaN/Inf replaced by zero."""

    subnormals_flushed: int = 0
    nonfinite_zeroed: int = 0

    def __add__(self, other: PolicyCounts) -> PolicyCounts:
        return PolicyCounts(
            self.subnormals_flushed + other.subnormals_flushed,
            self.nonfinite_zeroed + other.nonfinite_zeroed,
        )


def _first_index(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))


def apply_bfloat16_policies(
    bits: np.ndarray,
    subnormals: SubnormalPolicy = "flush",
    nonfinite: NonfinitePolicy = "error",
    name: str = "operand",
) -> tuple[np.ndarray, PolicyCounts]:
    """Return bfloat16 bit patterns holding only normals and +0, and what was changed.

    Zeros of either sign become +0 (the PE skips zero lanes whatever their sign). `name` is used in
    error messages to say which operand holds the offending values.
    """
    if subnormals not in ("flush", "error"):
        raise NumericsError(f"subnormal policy {subnormals!r} is unknown; use 'flush' or 'error'")
    if nonfinite not in ("error", "zero"):
        raise NumericsError(f"nonfinite policy {nonfinite!r} is unknown; use 'error' or 'zero'")
    bits = np.asarray(bits, dtype=np.uint16)
    exponent = bits & _EXPONENT_MASK
    bad = exponent == _EXPONENT_MASK
    n_bad = int(np.count_nonzero(bad))
    if n_bad and nonfinite == "error":
        raise NumericsError(
            f"{name} holds {n_bad} NaN/Inf bfloat16 value(s) (first at index {_first_index(bad)}, "
            "finite float32 values above 3.39e38 round to Inf); fix the data or set "
            "nonfinite='zero' to count and zero them"
        )
    zero_exp = exponent == 0
    sub = zero_exp & ((bits & _FRACTION_MASK) != 0)
    n_sub = int(np.count_nonzero(sub))
    if n_sub and subnormals == "error":
        raise NumericsError(
            f"{name} holds {n_sub} subnormal bfloat16 value(s) (first at index "
            f"{_first_index(sub)}); set subnormals='flush' to count and flush them to zero"
        )
    out = np.where(zero_exp | bad, np.uint16(0), bits)
    return out, PolicyCounts(subnormals_flushed=n_sub, nonfinite_zeroed=n_bad)
