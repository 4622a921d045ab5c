"""Configuration of the term-serial bfloat16 processing element (docs/design.md §4).

Every constant of the PE model is a field here, with its unit. The defaults describe the PE of
the design notes: 8 lanes, a float32 accumulator (24 significand bits) with 3 guard bits, NAF
terms, at least one cycle per step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from thrifty._config import FrozenConfig

#: Bits of a bfloat16 significand, hidden bit included: the term slots of a bit-serial lane.
SIGNIFICAND_BITS = 8


class PEConfig(FrozenConfig):
    """One term-serial PE and its bit-parallel baseline (same lanes, same accumulator)."""

    lanes: int = Field(
        8,
        ge=1,
        le=64,
        description="multiply-accumulate lanes per PE: pairs of one reduction consumed per step "
        "(count)",
    )
    accumulator_bits: int = Field(
        24,
        ge=8,
        le=24,
        description="significand width of the accumulator, hidden bit included (bits); 24 is "
        "float32. Results are rounded to this width (round-to-nearest-even) with float32's "
        "exponent range",
    )
    guard_bits: int = Field(
        3,
        ge=0,
        le=8,
        description="extra bits below the accumulator significand inside the alignment window "
        "(bits); the window is W = accumulator_bits + guard_bits wide",
    )
    headroom: int = Field(
        4,
        ge=0,
        le=8,
        description="bits between the largest product's top bit and the window top when the "
        "products set the alignment (bits); 4 = log2(8 lanes) + 1 holds the carries of 8 "
        "products and the accumulator",
    )
    encoding: Literal["naf", "binary", "booth4"] = Field(
        "naf",
        description="recoding of the serial operand's significand into signed powers of two",
    )
    min_cycles: int = Field(
        1,
        ge=0,
        le=255,
        description="fewest cycles a step takes, even when no lane has an effectual term (cycles)",
    )
    rounding: Literal["nearest", "truncate"] = Field(
        "nearest",
        description="how float32 inputs become bfloat16 operands: round-to-nearest-even or "
        "truncation (bfloat16 inputs are used as they are)",
    )
    subnormals: Literal["flush", "error"] = Field(
        "flush",
        description="bfloat16 subnormal operands: flushed to zero and counted, or an error",
    )
    nonfinite: Literal["error", "zero"] = Field(
        "error",
        description="NaN/Inf operands: an error naming how many and where, or counted and zeroed",
    )

    window: Literal["accumulator", "product"] = Field(
        "accumulator",
        description="what the out-of-bounds window hangs from: 'accumulator' (the top T includes "
        "the accumulator's top bit; the window is accumulator_bits + guard_bits wide) or "
        "'product' (T is the step's largest product exponent plus headroom, the accumulator "
        "does not enter it; the window is product_window_bits wide), as FPRaker-lineage "
        "datapaths do",
    )
    product_window_bits: int = Field(
        19,
        ge=8,
        le=32,
        description="width of the window when window='product' (bits): 16 bits of the 8 x 8-bit "
        "significand product plus 3 guard bits. Our reconstruction of the FPRaker-lineage "
        "datapath, not a published constant",
    )

    @property
    def window_bits(self) -> int:
        """W in force: accumulator_bits + guard_bits, or product_window_bits (window='product')."""
        if self.window == "product":
            return self.product_window_bits
        return self.accumulator_bits + self.guard_bits
