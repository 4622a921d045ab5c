"""Simulate the generated term-serial PE (Amaranth RTL) and compare it with the oracle.

Run: python docs/examples/rtl_simulate.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from thrifty.hw import PEConfig
from thrifty.hw.pe.oracle import run_oracle
from thrifty.hw.rtl import simulate_dot_product, simulate_term_serial
from thrifty.numerics import to_bfloat16_bits

a = to_bfloat16_bits(np.array([1.75, -0.3125, 1.0546875 * 2.0**-20, 0.0, 3.0], dtype=np.float32))
b = to_bfloat16_bits(np.array([1.0, 3.0, 1.0, 5.0, -0.5], dtype=np.float32))
reduction = ([int(x) for x in a], [int(x) for x in b])

for window in ("accumulator", "product"):
    config = PEConfig(lanes=4, window=window)
    (rtl,) = simulate_term_serial([reduction], config)
    oracle = run_oracle(*reduction, config)
    (dot,) = simulate_dot_product([reduction], config)
    print(f"window={window}: RTL value {rtl.value!r}, cycles per step {rtl.step_cycles}, "
          f"terms {rtl.terms_processed}")  # fmt: skip
    print(f"  oracle value {oracle.value!r}, cycles per step {oracle.step_cycles}, "
          f"terms {oracle.terms_processed}")  # fmt: skip
    print(f"  dot-product RTL {dot!r}, oracle's exact baseline {oracle.baseline_value!r}")
