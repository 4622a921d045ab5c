"""The term-serial PE as thrifty models it (`thrifty.hw.pe.oracle`), as hardware.

Per step (`lanes` pairs of one reduction), in its first cycle the PE takes the operands and the
serial operands' term masks (from a `TermRecoder` shared by the row), and:

- exponent block: product exponents E_i = e_a + e_b - 253 (weight of product bit 15), lanes with a
  zero operand idle, the alignment top T = max E_i + headroom, raised to the accumulator's top
  bit when the window hangs from the accumulator (`window="accumulator"`);
- out-of-bounds skip: per lane the distance d_i = T - E_i gives the lowest in-bound term position
  k >= d_i + 9 - W; the effectual-term mask keeps the in-bound non-zero terms only.

Then one cycle per term slot: every lane takes its most significant remaining effectual term,
its aligner shifts the bit-parallel significand b to the term's place in a window of W + 7 bits
(W bits of the window plus the 7 bits a partial product can reach below it), and the adder tree
adds all lanes into the step's exact sum. The step ends in the cycle where no lane has a term
left and at least `min_cycles` cycles were spent; that cycle truncates the sum toward zero to the
window's lowest bit and adds it to the accumulator with one rounding (`AccumulatorAdd`). So a
step takes exactly max(effectual terms over lanes, min_cycles) cycles, as in the oracle, and the
next step's first cycle follows at once.
"""

from __future__ import annotations

from amaranth.hdl import Const, Elaboratable, Module, Mux, Signal, signed

from thrifty.hw.pe.config import PEConfig
from thrifty.hw.rtl.bf16 import EXPONENT_WIDTH, TERM_POSITIONS, Accumulator
from thrifty.hw.rtl.buildable import check_buildable
from thrifty.hw.rtl.exponent_block import exponent_block
from thrifty.hw.rtl.float_add import AccumulatorAdd
from thrifty.hw.rtl.leading_one import leading_one


def step_sum_width(config: PEConfig) -> int:
    """Bits of the step's exact two's-complement sum (window + 7 low bits + carries + sign)."""
    return config.window_bits + 10 + (config.lanes - 1).bit_length()


class TermSerialPE(Elaboratable):
    """One term-serial PE without its term recoder (the row shares that; see `TermRecoder`).

    Ports: `a`, `b` (16 bits per lane), `plus`, `minus` (9 bits per lane) are read in a step's
    first cycle, flagged by `ready`; `done` flags the step's last cycle; `fire` the lanes that add
    a term this cycle; `clear` (while ready) zeroes the accumulator instead of starting a step;
    `acc` is the accumulator register.
    """

    def __init__(self, config: PEConfig) -> None:
        self._MustUse__silence = True  # set again below once the config is known to build
        check_buildable(config)
        self._MustUse__silence = False
        self.config = config
        lanes = config.lanes
        self.a = Signal(16 * lanes)
        self.b = Signal(16 * lanes)
        self.plus = Signal(TERM_POSITIONS * lanes)
        self.minus = Signal(TERM_POSITIONS * lanes)
        self.clear = Signal()
        self.ready = Signal()
        self.done = Signal()
        self.fire = Signal(lanes)
        self.acc = Accumulator(config.accumulator_bits, "acc")

    def ports(self) -> list[Signal]:
        return [self.a, self.b, self.plus, self.minus, self.clear, self.ready, self.done,
                self.fire, *self.acc.fields()]  # fmt: skip

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg = self.config
        window, n = cfg.window_bits, TERM_POSITIONS
        sum_width = step_sum_width(cfg)
        field = window + 7  # where a partial product can land, in units of the step grid
        exp = signed(EXPONENT_WIDTH)
        far = window + 8  # distances d >= far leave no term in bounds
        busy = Signal()  # 0: this cycle is a step's first
        m.d.comb += self.ready.eq(~busy)

        # Exponent block (fresh operands, used in a step's first cycle).
        lane_fields, top_fresh = exponent_block(m, cfg, self.a, self.b, self.acc)

        # Per-lane registers (what the lane still has to do) and their fresh values.
        top_reg = Signal(exp)
        top = Signal(exp)
        sum_reg = Signal(signed(sum_width))
        count_reg = Signal(8)
        m.d.comb += top.eq(Mux(busy, top_reg, top_fresh))
        contributions, next_masks = [], []
        for i, lane in enumerate(lane_fields):
            fa, fb = lane.a, lane.b
            distance = Signal(signed(EXPONENT_WIDTH + 1), name=f"distance_{i}")
            near = Signal(range(far + 1), name=f"near_{i}")  # d, saturated at `far`
            first_in = Signal(range(n + 1), name=f"first_in_bounds_{i}")
            m.d.comb += [
                distance.eq(top_fresh - lane.exponent),
                near.eq(Mux(distance > far, far, distance)),
                first_in.eq(Mux(near + 9 - window < 0, 0, Mux(near + 9 - window > n, n,
                                                                near + 9 - window))),
            ]  # fmt: skip
            in_bounds = (Const((1 << n) - 1, n) << first_in)[:n]
            lane_slice = slice(n * i, n * i + n)
            fresh_mask = Signal(n, name=f"effectual_{i}")
            m.d.comb += fresh_mask.eq(
                (self.plus[lane_slice] | self.minus[lane_slice])
                & in_bounds
                & Mux(lane.active, (1 << n) - 1, 0)
            )
            mask_reg = Signal(n, name=f"mask_reg_{i}")
            minus_reg = Signal(n, name=f"minus_reg_{i}")
            base_reg = Signal(signed(8), name=f"base_reg_{i}")
            b_reg = Signal(8, name=f"b_reg_{i}")
            negative_reg = Signal(name=f"negative_reg_{i}")
            base_fresh = Signal(signed(8), name=f"base_{i}")
            m.d.comb += base_fresh.eq(window - 9 - near)
            mask = Mux(busy, mask_reg, fresh_mask)
            minus = Mux(busy, minus_reg, self.minus[lane_slice])
            base = Mux(busy, base_reg, base_fresh)
            b_sig = Mux(busy, b_reg, fb.significand)
            negative = Mux(busy, negative_reg, fa.negative ^ fb.negative)

            # Term selection: the most significant remaining effectual term.
            has_term, position = leading_one(mask)
            shift = Signal(range(1 << (field - 1).bit_length()), name=f"shift_{i}")
            m.d.comb += shift.eq(base + position)
            aligned = Signal(field, name=f"aligned_{i}")  # aligner: b shifted to the term
            m.d.comb += aligned.eq((b_sig << shift)[:field])
            subtract = negative ^ (minus >> position)[0]
            contribution = Signal(signed(field + 1), name=f"contribution_{i}")
            m.d.comb += contribution.eq(Mux(has_term, Mux(subtract, -aligned, aligned), 0))
            next_mask = Signal(n, name=f"next_mask_{i}")
            m.d.comb += next_mask.eq(mask & ~(Const(1, n) << position)[:n])
            m.d.comb += self.fire[i].eq(has_term & ~(self.clear & ~busy))
            contributions.append(contribution)
            next_masks.append(next_mask)
            m.d.sync += [
                mask_reg.eq(next_mask),
                minus_reg.eq(minus),
                base_reg.eq(base),
                b_reg.eq(b_sig),
                negative_reg.eq(negative),
            ]

        # Adder tree into the step's exact sum; cycle control.
        step_sum = Signal(signed(sum_width))
        m.d.comb += step_sum.eq(Mux(busy, sum_reg, 0) + sum(contributions))
        count = Signal(9)
        m.d.comb += count.eq(Mux(busy, count_reg, 0) + 1)
        terms_left = Signal()
        m.d.comb += terms_left.eq(sum(mask != 0 for mask in next_masks) != 0)
        last = Signal()
        m.d.comb += last.eq(~terms_left & (count >= cfg.min_cycles))

        # Last cycle: truncate toward zero to the window's lowest bit, one rounding into acc.
        m.submodules.add = add = AccumulatorAdd(cfg.accumulator_bits, sum_width - 8)
        magnitude = Signal(sum_width)
        m.d.comb += [
            magnitude.eq(Mux(step_sum < 0, -step_sum, step_sum)),
            add.acc.eq(self.acc),
            add.x_negative.eq(step_sum < 0),
            add.x_magnitude.eq(magnitude[7:]),
            add.x_lsb_exponent.eq(top - window + 1),
        ]
        with m.If(~busy & self.clear):
            m.d.sync += [
                self.acc.negative.eq(0),
                self.acc.magnitude.eq(0),
                self.acc.exponent.eq(0),
                self.acc.infinite.eq(0),
            ]
        with m.Elif(last):
            m.d.comb += self.done.eq(1)
            m.d.sync += [self.acc.eq(add.out), busy.eq(0)]
        with m.Else():
            m.d.sync += [busy.eq(1), sum_reg.eq(step_sum), count_reg.eq(count), top_reg.eq(top)]
        return m
