"""The exponent block: product exponents of a step and the common alignment top T.

Shared by the term-serial PE and the (windowed) dot-product PE, which align the same way:
E_i = e_a + e_b - 253 is the weight of product bit 15 of lane i (lanes with a zero operand are
inactive), T = max E_i + headroom, raised to the accumulator's top bit when the window hangs
from the accumulator (`window="accumulator"`; an infinite accumulator counts as 2**128).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Signal, Value, signed

from thrifty.hw.pe.config import PEConfig
from thrifty.hw.rtl.bf16 import (
    EXPONENT_WIDTH,
    INF_TOP_BIT,
    PRODUCT_LSB_OFFSET,
    PRODUCT_TOP_BIT,
    Accumulator,
    Bf16Fields,
    decode,
)
from thrifty.hw.rtl.leading_one import leading_one

LOWEST_WEIGHT = -(1 << (EXPONENT_WIDTH - 1))  # stands for "no lane" in the max tree


def _max(values: list[Value]) -> Value:
    """Balanced tree of signed maxima."""
    while len(values) > 1:
        pairs = [Mux(x > y, x, y) for x, y in zip(values[::2], values[1::2], strict=False)]
        values = pairs + ([values[-1]] if len(values) % 2 else [])
    return values[0]


@dataclass(frozen=True)
class Lane:
    """One lane's decoded operands and product exponent."""

    a: Bf16Fields
    b: Bf16Fields
    active: Signal
    exponent: Signal  # E_i, weight of product bit 15


def exponent_block(
    m: Module, config: PEConfig, a: Value, b: Value, acc: Accumulator
) -> tuple[list[Lane], Signal]:
    """Decode every lane of the packed operands and compute the step's top T."""
    exp = signed(EXPONENT_WIDTH)
    lanes: list[Lane] = []
    for i in range(config.lanes):
        fa, fb = decode(a[16 * i : 16 * i + 16]), decode(b[16 * i : 16 * i + 16])
        e_i, active = Signal(exp, name=f"E_{i}"), Signal(name=f"active_{i}")
        m.d.comb += [
            active.eq(fa.nonzero & fb.nonzero),
            e_i.eq(fa.exponent + fb.exponent - (PRODUCT_LSB_OFFSET - PRODUCT_TOP_BIT)),
        ]
        lanes.append(Lane(fa, fb, active, e_i))
    top_products = Signal(exp)
    m.d.comb += top_products.eq(
        _max([Mux(lane.active, lane.exponent, LOWEST_WEIGHT) for lane in lanes]) + config.headroom
    )
    if config.window == "product":
        return lanes, top_products
    _, acc_msb = leading_one(acc.magnitude)
    acc_top = Signal(exp)
    top = Signal(exp)
    m.d.comb += acc_top.eq(Mux(acc.infinite, INF_TOP_BIT, acc.exponent + acc_msb))
    raise_top = (acc.infinite | (acc.magnitude != 0)) & (acc_top > top_products)
    m.d.comb += top.eq(Mux(raise_top, acc_top, top_products))
    return lanes, top
