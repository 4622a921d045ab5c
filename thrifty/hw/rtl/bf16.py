"""bfloat16 operand fields and the accumulator's number format, shared by every design.

Operands reach the hardware as 16-bit bfloat16 patterns with the subnormal and NaN policies
already applied (only zeros and normals), exactly as the PE oracle sees them. Exponents inside
the designs are signed `EXPONENT_WIDTH`-bit integers holding the weight of a bit (2**e), wide
enough for every weight a step can produce (bfloat16 products reach 2**255 and 2**-266).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Signal, Value, signed

EXPONENT_WIDTH = 12  # signed bit weights: -2048 .. 2047
SIGNIFICAND_BITS = 8  # 1 hidden bit + 7 fraction bits
TERM_POSITIONS = 9  # term positions 0..8 (NAF and Booth reach 2**8)
PRODUCT_TOP_BIT = 15  # a product of two significands is below 2**16
PRODUCT_LSB_OFFSET = 2 * (127 + 7)  # product LSB weight = exponent_a + exponent_b - 268
FLOAT32_MIN_EXPONENT = -126
FLOAT32_MAX_EXPONENT = 127
INF_TOP_BIT = FLOAT32_MAX_EXPONENT + 1  # top bit of an infinite accumulator, for alignment


@dataclass(frozen=True)
class Bf16Fields:
    """Decoded fields of one bfloat16 operand (Amaranth expressions)."""

    negative: Value
    exponent: Value  # biased exponent field, 0 for zero
    significand: Value  # 8 bits, hidden bit set (meaningless when exponent == 0)

    @property
    def nonzero(self) -> Value:
        return self.exponent != 0


def decode(bits: Value) -> Bf16Fields:
    """Fields of a 16-bit bfloat16 pattern."""
    return Bf16Fields(
        negative=bits[15], exponent=bits[7:15], significand=Cat(bits[0:7], Const(1, 1))
    )


class Accumulator:
    """A rounded accumulator value: (-1)**negative * magnitude * 2**exponent, or an infinity.

    magnitude has `bits` bits, normalised (top bit set) unless the value is subnormal or zero;
    zero is magnitude 0 with negative = 0 (the oracle's exact zero is +0).
    """

    def __init__(self, bits: int, name: str) -> None:
        self.bits = bits
        self.negative = Signal(name=f"{name}_negative")
        self.magnitude = Signal(bits, name=f"{name}_magnitude")
        self.exponent = Signal(signed(EXPONENT_WIDTH), name=f"{name}_exponent")
        self.infinite = Signal(name=f"{name}_infinite")

    def fields(self) -> list[Signal]:
        return [self.negative, self.magnitude, self.exponent, self.infinite]

    def eq(self, other: Accumulator) -> list:
        return [mine.eq(theirs) for mine, theirs in zip(self.fields(), other.fields(), strict=True)]


def to_float(negative: int, magnitude: int, exponent: int, infinite: int) -> float:
    """The Python float of an accumulator read from simulation (exact: at most 24 bits)."""
    import math

    if infinite:
        return -math.inf if negative else math.inf
    value = math.ldexp(float(magnitude), exponent)
    return -value if negative else value
