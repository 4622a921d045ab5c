"""The term recoder's masks equal thrifty.numerics.terms.term_masks on every significand."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from thrifty.hw.rtl import TermRecoder
from thrifty.numerics.terms import term_masks


@pytest.mark.parametrize("encoding", ["naf", "binary", "booth4"])
def test_every_significand(encoding: str) -> None:
    recoder = TermRecoder(2, encoding)
    got: list[tuple[int, int]] = []
    lane_1: list[tuple[int, int]] = []

    async def testbench(ctx):
        for f in range(128):
            ctx.set(recoder.fractions, f | ((127 - f) << 7))  # lane 1 holds 127 - f
            plus, minus = ctx.get(recoder.plus), ctx.get(recoder.minus)
            got.append((plus & 0x1FF, minus & 0x1FF))
            lane_1.append((plus >> 9, minus >> 9))

    sim = Simulator(recoder)
    sim.add_testbench(testbench)
    sim.run()
    plus, minus = term_masks(np.arange(128, 256), encoding)  # type: ignore[arg-type]
    want = list(zip(plus.tolist(), minus.tolist(), strict=True))
    assert got == want
    assert lane_1 == want[::-1]  # lanes are independent
