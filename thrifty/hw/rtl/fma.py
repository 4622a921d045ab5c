"""The conventional per-lane unit: bfloat16 x bfloat16 multiply, float32 accumulate, 1 MAC/cycle.

Each cycle the exact significand product (8 x 8 bits) is rounded to the accumulator's format
(a bfloat16 product is exact in float32 unless it leaves float32's range: it may then become
subnormal and rounded, or infinite), then added to the accumulator with one rounding: exactly
what float32 arithmetic computes for acc + float32(a * b), NaN included (Inf - Inf).
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Mux, Signal

from thrifty.hw.pe.config import PEConfig
from thrifty.hw.rtl.bf16 import PRODUCT_LSB_OFFSET, Accumulator, decode
from thrifty.hw.rtl.float_add import AccumulatorAdd
from thrifty.hw.rtl.rounding import RoundToAccumulator


class FMAUnit(Elaboratable):
    """One bfloat16 multiply + accumulate per cycle into an `accumulator_bits` accumulator.

    Ports: `a`, `b` (16 bits) are read every cycle; `clear` zeroes the accumulator instead;
    `acc` and `nan` are the accumulator registers.
    """

    def __init__(self, config: PEConfig) -> None:
        self.bits = config.accumulator_bits
        self.a = Signal(16)
        self.b = Signal(16)
        self.clear = Signal()
        self.acc = Accumulator(self.bits, "acc")
        self.nan = Signal()

    def ports(self) -> list[Signal]:
        return [self.a, self.b, self.clear, self.nan, *self.acc.fields()]

    def elaborate(self, platform: object) -> Module:
        m = Module()
        fa, fb = decode(self.a), decode(self.b)
        m.submodules.product = product = RoundToAccumulator(16, self.bits)
        m.d.comb += [
            product.negative.eq(fa.negative ^ fb.negative),
            product.magnitude.eq(Mux(fa.nonzero & fb.nonzero, fa.significand * fb.significand, 0)),
            product.lsb_exponent.eq(fa.exponent + fb.exponent - PRODUCT_LSB_OFFSET),
        ]
        p = product.out
        m.submodules.add = add = AccumulatorAdd(self.bits, self.bits)
        m.d.comb += [
            add.acc.eq(self.acc),
            add.x_negative.eq(p.negative),
            add.x_magnitude.eq(p.magnitude),
            add.x_lsb_exponent.eq(p.exponent),
        ]
        acc = self.acc
        with m.If(self.clear):
            m.d.sync += [field.eq(0) for field in [*acc.fields(), self.nan]]
        with m.Elif(self.nan):
            pass
        with m.Elif(acc.infinite & p.infinite & (acc.negative != p.negative)):
            m.d.sync += self.nan.eq(1)
        with m.Elif(acc.infinite):
            pass
        with m.Elif(p.infinite):
            m.d.sync += acc.eq(p)
        with m.Else():
            m.d.sync += acc.eq(add.out)
        return m
