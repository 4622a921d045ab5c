"""The exact fused bfloat16 dot-product PE: the oracle's baseline value, as hardware.

One step per cycle: each lane multiplies its two significands (8 x 8 bits), the exact products of
the step and the accumulator are placed on one fixed-point grid, summed exactly and rounded once
into the accumulator, which is what the oracle's baseline does (`baseline_value`).

Exactness is what makes this design wide. The oracle's baseline adds the exact products, whatever
their exponents, so the grid spans every bit a bfloat16 product or the accumulator can hold:
2**-266 .. 2**259 (a Kulisch-style accumulator of about 530 bits). A practical fused unit would
align to the largest exponent and truncate below a window; its value would then differ from the
oracle's baseline; that practical unit is `DotProductPE`, and this one proves that the oracle's
baseline value is what an (unreasonably wide) exact unit computes. It is not synthesized by
default: its area is an upper bound no one would build, and Yosys needs minutes for it.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed

from thrifty.hw.rtl.bf16 import PRODUCT_LSB_OFFSET, decode
from thrifty.hw.rtl.dot_product import BitParallelPorts
from thrifty.hw.rtl.rounding import RoundToAccumulator

GRID_LSB = 2 - PRODUCT_LSB_OFFSET  # weight of the lowest product bit: exponent fields 1 + 1
PRODUCT_MAX_OFFSET = 2 * 254 - 2  # grid offset of the highest product's lowest bit


def grid_width(lanes: int) -> int:
    """Signed bits of the exact sum: `lanes` 16-bit products at offsets up to 506, plus acc."""
    return PRODUCT_MAX_OFFSET + 16 + lanes.bit_length() + 1


class ExactDotProductPE(BitParallelPorts):
    """`lanes` bfloat16 products and the accumulator, summed exactly, one rounding per cycle
    (ports: `BitParallelPorts`)."""

    def elaborate(self, platform: object) -> Module:
        m = Module()
        lanes, bits = self.config.lanes, self.config.accumulator_bits
        width = grid_width(lanes)
        terms = []
        for i in range(lanes):
            fa, fb = decode(self.a[16 * i : 16 * i + 16]), decode(self.b[16 * i : 16 * i + 16])
            product = Signal(16, name=f"product_{i}")
            offset = Signal(9, name=f"offset_{i}")
            placed = Signal(width - 1, name=f"placed_{i}")
            m.d.comb += [
                product.eq(Mux(fa.nonzero & fb.nonzero, fa.significand * fb.significand, 0)),
                offset.eq(fa.exponent + fb.exponent - 2),
                placed.eq(product << offset),
            ]
            terms.append(Mux(fa.negative ^ fb.negative, -placed, placed))
        acc = self.acc
        acc_offset = Signal(9)
        acc_placed = Signal(width - 1)
        m.d.comb += [
            acc_offset.eq(acc.exponent - GRID_LSB),
            acc_placed.eq(acc.magnitude << acc_offset),
        ]
        terms.append(Mux(acc.negative, -acc_placed, acc_placed))
        total = Signal(signed(width))
        m.d.comb += total.eq(sum(terms))
        m.submodules.round = rounder = RoundToAccumulator(width - 1, bits)
        m.d.comb += [
            rounder.negative.eq(total < 0),
            rounder.magnitude.eq(Mux(total < 0, -total, total)),
            rounder.lsb_exponent.eq(GRID_LSB),
        ]
        with m.If(self.clear):
            m.d.sync += [field.eq(0) for field in acc.fields()]
        with m.Elif(~acc.infinite):
            m.d.sync += acc.eq(rounder.out)
        return m
