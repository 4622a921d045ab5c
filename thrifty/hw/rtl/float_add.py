"""acc + x with one rounding: the accumulator update every design shares.

`acc` is a rounded accumulator value (`bits` bits, maybe subnormal); `x` is an exact addend:
sign, an `x_width`-bit magnitude (not normalised) and the weight of its lowest bit. The exact sum
is rounded once, as the oracle's `add_to_accumulator` does; an infinite accumulator stays.

How it stays exact with a narrow datapath (a textbook floating-point adder): x is normalised
(leading-one detector and shift), both operands are placed in a frame of F = max(bits, x_width)
+ 3 bits under the higher of their tops, and the bits of the lower operand that fall below the
frame are OR-ed into the frame's lowest bit (a sticky bit). Only one operand can lose bits, and
it then lies at least 3 bits below the other, so the sum's rounding point stays at least two
frame bits above the sticky bit: the rounded result is the same as the exact sum's.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Elaboratable, Module, Mux, Signal, Value, signed

from thrifty.hw.rtl.bf16 import EXPONENT_WIDTH, Accumulator
from thrifty.hw.rtl.leading_one import leading_one
from thrifty.hw.rtl.rounding import RoundToAccumulator


def _align(m: Module, value: Value, frame: int, distance: Value, name: str) -> Signal:
    """`value` (top-aligned in the frame) shifted right by `distance`, lost bits as a sticky."""
    placed = Cat(Const(0, frame - len(value)), value) if frame > len(value) else value
    amount = Signal(range(frame + 1), name=f"{name}_shift")
    m.d.comb += amount.eq(Mux(distance > frame, frame, distance))
    aligned = Signal(frame, name=f"{name}_aligned")
    rest = Signal(range(frame + 1), name=f"{name}_rest")
    m.d.comb += rest.eq(frame - amount)
    lost = (placed[::-1] >> rest) != 0  # bits amount-1 .. 0 of `placed`
    m.d.comb += aligned.eq((placed >> amount) | lost)
    return aligned


class AccumulatorAdd(Elaboratable):
    """Combinational: `out` = round(acc + x) (one rounding), an infinite acc stays infinite."""

    def __init__(self, bits: int, x_width: int) -> None:
        self.bits, self.x_width = bits, x_width
        self.acc = Accumulator(bits, "acc")
        self.x_negative = Signal()
        self.x_magnitude = Signal(x_width)
        self.x_lsb_exponent = Signal(signed(EXPONENT_WIDTH))
        self.out = Accumulator(bits, "sum")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        bits, x_width = self.bits, self.x_width
        frame = max(bits, x_width) + 3
        wide = signed(EXPONENT_WIDTH + 2)
        acc = self.acc

        # 1. Normalise x: its top bit to bit x_width - 1.
        x_nonzero, x_top = leading_one(self.x_magnitude)
        x_shift = Signal(range(x_width))
        x_normal = Signal(x_width)
        m.d.comb += [
            x_shift.eq(x_width - 1 - x_top),
            x_normal.eq((self.x_magnitude << x_shift)[:x_width]),
        ]
        # 2. Frame tops (weight just above each magnitude) and the common frame top.
        acc_top, x_top_weight, high = Signal(wide), Signal(wide), Signal(wide)
        acc_nonzero = acc.magnitude != 0
        m.d.comb += [
            acc_top.eq(acc.exponent + bits),
            x_top_weight.eq(self.x_lsb_exponent - x_shift + x_width),
        ]
        with m.If(~acc_nonzero):
            m.d.comb += high.eq(x_top_weight)
        with m.Elif(~x_nonzero):
            m.d.comb += high.eq(acc_top)
        with m.Else():
            m.d.comb += high.eq(Mux(acc_top > x_top_weight, acc_top, x_top_weight))
        # 3. Align both into the frame (sticky for the lost bits) and add as signed numbers.
        acc_aligned = _align(m, acc.magnitude, frame, high - acc_top, "acc")
        x_aligned = _align(m, x_normal, frame, high - x_top_weight, "x")
        total = Signal(signed(frame + 2))
        m.d.comb += total.eq(
            Mux(acc.negative, -acc_aligned, acc_aligned)
            + Mux(self.x_negative, -x_aligned, x_aligned)
        )
        # 4. One rounding of the (sticky-exact) sum.
        m.submodules.round = rounder = RoundToAccumulator(frame + 1, bits)
        m.d.comb += [
            rounder.negative.eq(total < 0),
            rounder.magnitude.eq(Mux(total < 0, -total, total)),
            rounder.lsb_exponent.eq(high - frame),
        ]
        with m.If(acc.infinite):
            m.d.comb += self.out.eq(acc)
        with m.Else():
            m.d.comb += self.out.eq(rounder.out)
        return m
