"""RTL of the processing elements, generated from `PEConfig` with Amaranth (a Python HDL).

- `TermSerialPE`: the term-serial PE as the oracle models it (without its term recoder);
- `TermRecoder`: the recoder of one lane group, shared by the PEs of a row;
- `DotProductPE`: the fused bit-parallel bfloat16 dot-product PE with the same window;
- `ExactDotProductPE`: the exact (Kulisch-wide) dot-product PE that the oracle's baseline models;
- `FMAUnit`: one conventional bfloat16 multiply + float32 accumulate unit, one MAC per cycle.

`simulate` runs them in Amaranth's simulator; `thrifty.hw.synth` synthesizes them with Yosys.
"""

from thrifty.hw.rtl.buildable import check_buildable
from thrifty.hw.rtl.dot_product import DotProductPE
from thrifty.hw.rtl.exact_dot_product import ExactDotProductPE
from thrifty.hw.rtl.fma import FMAUnit
from thrifty.hw.rtl.recoder import TermRecoder
from thrifty.hw.rtl.simulate import (
    TermSerialRun,
    simulate_dot_product,
    simulate_fma,
    simulate_term_serial,
)
from thrifty.hw.rtl.term_serial import TermSerialPE

__all__ = [
    "DotProductPE",
    "ExactDotProductPE",
    "FMAUnit",
    "TermRecoder",
    "TermSerialPE",
    "TermSerialRun",
    "check_buildable",
    "simulate_dot_product",
    "simulate_fma",
    "simulate_term_serial",
]
