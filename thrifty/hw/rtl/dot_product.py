"""The fused bit-parallel bfloat16 dot-product PE, with the term-serial PE's window.

This is the baseline an architect would build beside the term-serial PE: same lanes, same
accumulator, same exponent block and alignment window, but each lane multiplies its significands
in one cycle (8 x 8-bit multiplier) instead of feeding terms. Per step (one cycle):

- the step's top T and window W are those of the term-serial PE (`exponent_block`);
- each lane's exact 16-bit product is aligned below T; its bits below the adder grid (the
  window's lowest bit minus 7, as in the term-serial PE) are dropped (truncation toward zero);
- the adder tree sums the lanes exactly, the sum is truncated toward zero to the window's lowest
  bit and added to the accumulator with one rounding (`AccumulatorAdd`).

Its value equals the oracle's baseline whenever no product bit falls below the grid; with wide
exponent spreads it loses what the window drops, as practical fused units do. The oracle's
baseline value itself (exact products, unbounded alignment) is what `ExactDotProductPE` builds.
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Mux, Signal, signed

from thrifty.hw.pe.config import PEConfig
from thrifty.hw.rtl.bf16 import EXPONENT_WIDTH, Accumulator
from thrifty.hw.rtl.exponent_block import exponent_block
from thrifty.hw.rtl.float_add import AccumulatorAdd
from thrifty.hw.rtl.term_serial import step_sum_width


class BitParallelPorts(Elaboratable):
    """The ports every bit-parallel PE shares: `a`, `b` (16 bits per lane) are read every
    cycle; `clear` zeroes the accumulator instead; `acc` is the accumulator register."""

    def __init__(self, config: PEConfig) -> None:
        self.config = config
        self.a = Signal(16 * config.lanes)
        self.b = Signal(16 * config.lanes)
        self.clear = Signal()
        self.acc = Accumulator(config.accumulator_bits, "acc")

    def ports(self) -> list[Signal]:
        return [self.a, self.b, self.clear, *self.acc.fields()]


class DotProductPE(BitParallelPorts):
    """`lanes` bfloat16 products aligned in the PE's window, one step and one rounding per cycle
    (ports: `BitParallelPorts`)."""

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        window = cfg.window_bits
        field = window + 7  # adder grid: the window plus 7 bits below it
        sum_width = step_sum_width(cfg)
        lanes, top = exponent_block(m, cfg, self.a, self.b, self.acc)
        terms = []
        for i, lane in enumerate(lanes):
            product = Signal(16, name=f"product_{i}")
            distance = Signal(signed(EXPONENT_WIDTH + 1), name=f"distance_{i}")
            shift = Signal(range(field + 1), name=f"shift_{i}")
            placed = Signal(field, name=f"placed_{i}")
            m.d.comb += [
                product.eq(Mux(lane.active, lane.a.significand * lane.b.significand, 0)),
                distance.eq(top - lane.exponent),  # s_i >= 0: product bit 15 sits at T - s_i
                # product LSB lands at grid offset W - 9 - s_i; shift by 16 more, keep [16:]
                shift.eq(Mux(distance > field, 0, field - distance)),
                placed.eq((product << shift)[16 : 16 + field]),
            ]
            terms.append(Mux(lane.a.negative ^ lane.b.negative, -placed, placed))
        step_sum = Signal(signed(sum_width))
        magnitude = Signal(sum_width)
        m.d.comb += [
            step_sum.eq(sum(terms)),
            magnitude.eq(Mux(step_sum < 0, -step_sum, step_sum)),
        ]
        m.submodules.add = add = AccumulatorAdd(cfg.accumulator_bits, sum_width - 8)
        m.d.comb += [
            add.acc.eq(self.acc),
            add.x_negative.eq(step_sum < 0),
            add.x_magnitude.eq(magnitude[7:]),
            add.x_lsb_exponent.eq(top - window + 1),
        ]
        with m.If(self.clear):
            m.d.sync += [f.eq(0) for f in self.acc.fields()]
        with m.Else():
            m.d.sync += self.acc.eq(add.out)
        return m
