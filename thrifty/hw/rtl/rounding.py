"""Round an exact value to the accumulator's format: nearest-even, float32 exponent range.

The value arrives as sign, magnitude and the weight of the magnitude's lowest bit; it is rounded
once to `bits` significand bits with float32's exponent range (subnormals kept, as the oracle's
`round_accumulator`): a sum that reaches 2**128 becomes an infinity, an exact zero or a sum that
rounds to zero gives +0.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Elaboratable, Module, Mux, Signal, signed

from thrifty.hw.rtl.bf16 import (
    EXPONENT_WIDTH,
    FLOAT32_MAX_EXPONENT,
    FLOAT32_MIN_EXPONENT,
    Accumulator,
)
from thrifty.hw.rtl.leading_one import leading_one


class RoundToAccumulator(Elaboratable):
    """Combinational: (negative, magnitude, lsb_exponent) exact -> `out`, rounded once."""

    def __init__(self, width: int, bits: int) -> None:
        self.width, self.bits = width, bits
        self.negative = Signal()
        self.magnitude = Signal(width)
        self.lsb_exponent = Signal(signed(EXPONENT_WIDTH))
        self.out = Accumulator(bits, "rounded")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        width, bits = self.width, self.bits
        wide = signed(EXPONENT_WIDTH + 2)
        min_lsb = FLOAT32_MIN_EXPONENT - bits + 1  # lowest bit weight a subnormal holds
        max_lsb = FLOAT32_MAX_EXPONENT - bits + 1  # lowest bit weight of the largest finite
        _, top = leading_one(self.magnitude)  # a zero magnitude rounds to zero whatever r is

        # Right shift r: normalise to `bits` bits, but never below the subnormal quantum.
        r = Signal(wide)
        r_normal = Signal(wide)
        r_subnormal = Signal(wide)
        m.d.comb += [
            r_normal.eq(top - (bits - 1)),
            r_subnormal.eq(min_lsb - self.lsb_exponent),
            r.eq(Mux(r_normal > r_subnormal, r_normal, r_subnormal)),
        ]
        kept = Signal(bits + 1)  # before the carry-out correction
        with m.If(r <= 0):  # representable as is: shift left into place (at most bits - 1)
            left = Signal(range(bits))
            m.d.comb += [left.eq(-r), kept.eq((self.magnitude << left)[: bits + 1])]
        with m.Else():  # drop r bits: round bit, sticky bit, nearest-even
            right = Signal(range(width + 2))
            m.d.comb += right.eq(Mux(r > width + 1, width + 1, r))
            truncated = Signal(bits + 1)
            round_bit = Signal()
            sticky = Signal()
            reversed_magnitude = self.magnitude[::-1]
            below, rest = Signal(range(width + 2)), Signal(range(width + 2))
            m.d.comb += [
                below.eq(right - 1),
                rest.eq(width + 1 - right),
                truncated.eq(self.magnitude >> right),
                round_bit.eq((self.magnitude >> below)[0]),
                # bits right-2 .. 0 of the magnitude are the top bits of its reverse
                sticky.eq((reversed_magnitude >> rest) != 0),
                kept.eq(truncated + (round_bit & (sticky | truncated[0]))),
            ]
        exponent = Signal(wide)
        m.d.comb += exponent.eq(self.lsb_exponent + r)
        out = self.out
        with m.If(kept == 0):
            m.d.comb += [out.negative.eq(0), out.magnitude.eq(0), out.exponent.eq(0)]
        with m.Elif(kept[bits]):  # rounding carried out: 2**bits -> 2**(bits-1), one up
            m.d.comb += [
                out.negative.eq(self.negative),
                out.magnitude.eq(Cat(kept[1:bits], 1)[:bits]),
                out.exponent.eq(exponent + 1),
                out.infinite.eq(exponent + 1 > max_lsb),
            ]
        with m.Else():
            m.d.comb += [
                out.negative.eq(self.negative),
                out.magnitude.eq(kept[:bits]),
                out.exponent.eq(exponent),
                out.infinite.eq(exponent > max_lsb),
            ]
        return m
