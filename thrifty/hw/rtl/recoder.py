"""The term recoder: serial significands -> term masks, one module per row of PEs.

PEs in one row share the serial operand stream, so they share its recoding: the recoder turns
each lane's significand (hidden bit + 7 fraction bits) into two 9-bit masks, `plus` and `minus`
(bit k set: a term +2**k or -2**k), the same bit tricks as `thrifty.numerics.terms.term_masks`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Elaboratable, Module, Signal

from thrifty.errors import ConfigError
from thrifty.hw.rtl.bf16 import TERM_POSITIONS

ENCODINGS = ("naf", "binary", "booth4")
_EVEN = int("0101010101", 2)  # bit positions 0, 2, 4, 6, 8 of a 10-bit word


class TermRecoder(Elaboratable):
    """Combinational: `fractions` (7 bits per lane) -> `plus`, `minus` (9 bits per lane)."""

    def __init__(self, lanes: int, encoding: str) -> None:
        if encoding not in ENCODINGS:
            self._MustUse__silence = True  # never elaborated: no "unused" warning
            raise ConfigError(
                f"the RTL has no term recoder for encoding {encoding!r}; use one of "
                f"{list(ENCODINGS)}"
            )
        self.lanes, self.encoding = lanes, encoding
        self.fractions = Signal(7 * lanes)
        self.plus = Signal(TERM_POSITIONS * lanes)
        self.minus = Signal(TERM_POSITIONS * lanes)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        n = TERM_POSITIONS
        for lane in range(self.lanes):
            x = Signal(10, name=f"significand_{lane}")
            m.d.comb += x.eq(Cat(self.fractions[7 * lane : 7 * lane + 7], Const(1, 1)))
            plus, minus = Signal(10, name=f"plus_{lane}"), Signal(10, name=f"minus_{lane}")
            if self.encoding == "binary":
                m.d.comb += [plus.eq(x), minus.eq(0)]
            elif self.encoding == "naf":  # from 3x: plus = (3x & ~x) >> 1, minus = (x & ~3x) >> 1
                x3 = Signal(10, name=f"triple_{lane}")
                m.d.comb += [
                    x3.eq(x + (x << 1)),
                    plus.eq((x3 & ~x) >> 1),
                    minus.eq((x & ~x3) >> 1),
                ]
            else:  # radix-4 Booth: digit j from bits 2j+1, 2j, 2j-1
                hi, mid, lo = x >> 1, x, (x << 1)[:10]
                differ = (mid ^ lo) & _EVEN
                m.d.comb += [
                    plus.eq((~hi & differ) | (((~hi & mid & lo) & _EVEN) << 1)[:10]),
                    minus.eq((hi & differ) | (((hi & ~mid & ~lo) & _EVEN) << 1)[:10]),
                ]
            m.d.comb += [
                self.plus[n * lane : n * lane + n].eq(plus[:n]),
                self.minus[n * lane : n * lane + n].eq(minus[:n]),
            ]
        return m
