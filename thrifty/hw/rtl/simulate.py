"""Run the generated designs in Amaranth's simulator on bfloat16 reductions.

Used by the equivalence tests (RTL = oracle) and available to users who change a design. Each
function simulates many reductions in one simulator run (the accumulator is cleared between
them), since building a simulator costs far more than a few hundred cycles. Operands are
bfloat16 bit patterns with the subnormal/NaN policies already applied, as the oracle takes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from amaranth.hdl import Cat, Elaboratable, Module
from amaranth.sim import Simulator

from thrifty.hw.pe.config import PEConfig
from thrifty.hw.rtl.bf16 import to_float
from thrifty.hw.rtl.dot_product import DotProductPE
from thrifty.hw.rtl.exact_dot_product import ExactDotProductPE
from thrifty.hw.rtl.fma import FMAUnit
from thrifty.hw.rtl.recoder import TermRecoder
from thrifty.hw.rtl.term_serial import TermSerialPE

Reduction = tuple[Sequence[int], Sequence[int]]


@dataclass(frozen=True)
class TermSerialRun:
    """What the simulated term-serial PE produced for one reduction."""

    value: float
    step_cycles: list[int]
    terms_processed: int

    @property
    def cycles(self) -> int:
        return sum(self.step_cycles)


class TermSerialWithRecoder(Elaboratable):
    """A term-serial PE fed by its own term recoder (a row of one PE)."""

    def __init__(self, config: PEConfig) -> None:
        self.pe = TermSerialPE(config)
        self.recoder = TermRecoder(config.lanes, config.encoding)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.pe, m.submodules.recoder = self.pe, self.recoder
        lanes = self.pe.config.lanes
        m.d.comb += [
            self.recoder.fractions.eq(Cat(*[self.pe.a[16 * i : 16 * i + 7] for i in range(lanes)])),
            self.pe.plus.eq(self.recoder.plus),
            self.pe.minus.eq(self.recoder.minus),
        ]
        return m


def _pack(values: Sequence[int]) -> int:
    return sum((v & 0xFFFF) << (16 * i) for i, v in enumerate(values))


def _steps(a: Sequence[int], b: Sequence[int], lanes: int) -> list[tuple[int, int]]:
    return [(_pack(a[s : s + lanes]), _pack(b[s : s + lanes])) for s in range(0, len(a), lanes)]


async def _read_acc(ctx: object, acc: object) -> float:
    return to_float(*(ctx.get(f) for f in acc.fields()))  # type: ignore[attr-defined]


def _run(design: Elaboratable, testbench: object) -> None:
    sim = Simulator(design)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)  # type: ignore[arg-type]
    sim.run()


def simulate_term_serial(reductions: Sequence[Reduction], config: PEConfig) -> list[TermSerialRun]:
    """Values, cycles per step and effectual terms of each reduction on the term-serial RTL."""
    top = TermSerialWithRecoder(config)
    pe, lanes = top.pe, config.lanes
    budget = max(config.min_cycles, 9) + 1  # no step can take longer
    runs: list[TermSerialRun] = []

    async def testbench(ctx):
        for a, b in reductions:
            ctx.set(pe.clear, 1)
            await ctx.tick()
            ctx.set(pe.clear, 0)
            step_cycles, terms = [], 0
            for a_word, b_word in _steps(a, b, lanes):
                ctx.set(pe.a, a_word)
                ctx.set(pe.b, b_word)
                cycles = 0
                while True:
                    terms += bin(ctx.get(pe.fire)).count("1")
                    done = ctx.get(pe.done)
                    cycles += 1
                    await ctx.tick()
                    if done or cycles > budget:
                        break
                step_cycles.append(cycles)
            runs.append(TermSerialRun(await _read_acc(ctx, pe.acc), step_cycles, terms))

    _run(top, testbench)
    return runs


def simulate_dot_product(
    reductions: Sequence[Reduction], config: PEConfig, exact: bool = False
) -> list[float]:
    """Value of each reduction on the dot-product RTL (one cycle per step of `lanes` pairs).

    exact=False: `DotProductPE` (the term-serial PE's window); True: `ExactDotProductPE`.
    """
    pe = ExactDotProductPE(config) if exact else DotProductPE(config)
    values: list[float] = []

    async def testbench(ctx):
        for a, b in reductions:
            ctx.set(pe.clear, 1)
            await ctx.tick()
            ctx.set(pe.clear, 0)
            for a_word, b_word in _steps(a, b, config.lanes):
                ctx.set(pe.a, a_word)
                ctx.set(pe.b, b_word)
                await ctx.tick()
            values.append(await _read_acc(ctx, pe.acc))

    _run(pe, testbench)
    return values


def simulate_fma(reductions: Sequence[Reduction], config: PEConfig) -> list[float]:
    """Value of each reduction on one per-lane FMA unit (one pair per cycle, in order)."""
    unit = FMAUnit(config)
    values: list[float] = []

    async def testbench(ctx):
        for a, b in reductions:
            ctx.set(unit.clear, 1)
            await ctx.tick()
            ctx.set(unit.clear, 0)
            for x, y in zip(a, b, strict=True):
                ctx.set(unit.a, x)
                ctx.set(unit.b, y)
                await ctx.tick()
            nan = ctx.get(unit.nan)
            values.append(math.nan if nan else await _read_acc(ctx, unit.acc))

    _run(unit, testbench)
    return values
