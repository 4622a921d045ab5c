"""One step of the term-serial PE, term by term (the worked example of docs/pe.md).

Run: python docs/examples/pe_worked_step.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from thrifty.hw import PEConfig, run_pe
from thrifty.hw.pe.oracle import (
    BF16_BIAS_PLUS_FRACTION,
    PRODUCT_TOP_BIT,
    TOP,
    decode_bfloat16,
    run_oracle,
)
from thrifty.numerics import reference_terms, to_bfloat16_bits

config = PEConfig()  # 8 lanes, W = 24 + 3 = 27, headroom 4, NAF
a = np.array([1.75, -0.3125, 1.0546875 * 2.0**-20, 0.0], dtype=np.float32)
b = np.array([1.0, 3.0, 1.0, 5.0], dtype=np.float32)
a_bits, b_bits = to_bfloat16_bits(a), to_bfloat16_bits(b)

lanes, idle = [], []
for i, (x, y) in enumerate(zip(a_bits.tolist(), b_bits.tolist(), strict=True)):
    da, db = decode_bfloat16(x), decode_bfloat16(y)
    if da is None or db is None:
        idle.append(f"lane {i}: a={a[i]:g} b={b[i]:g} -> idle (zero operand)")
        continue
    lsb = (da[1] - BF16_BIAS_PLUS_FRACTION) + (db[1] - BF16_BIAS_PLUS_FRACTION)
    lanes.append((i, da, db, lsb + PRODUCT_TOP_BIT))
top = max(e for *_, e in lanes) + config.headroom  # accumulator is 0: products set T
print(f"T = max E + headroom = {top}; window bits 2**{top} .. 2**{top - config.window_bits + 1}")
for i, (_, _, ma), (_, _, mb), e in lanes:
    terms = reference_terms(ma, config.encoding)
    shown = []
    for position, sign in terms:
        shift = (top - e) + (TOP - position)
        state = "in" if shift < config.window_bits else "OUT"
        shown.append(f"{'+' if sign > 0 else '-'}2^{position} (s={shift}, {state})")
    print(f"lane {i}: a={a[i]:g} (m={ma}) b={b[i]:g} (m={mb}) E={e}: " + ", ".join(shown))
print("\n".join([*idle, "lanes 4-7: idle (no pairs left)"]))

res = run_oracle(a_bits.tolist(), b_bits.tolist(), config)
print(
    f"cycles={res.cycles} terms: total={res.terms_total} processed={res.terms_processed} "
    f"out_of_bounds={res.terms_out_of_bounds} idle_lane_steps={res.idle_lane_steps}"
)
print(f"term-serial value = {res.value!r}  baseline value = {res.baseline_value!r}")
print(f"exact float64 dot = {float(np.dot(a.astype(np.float64), b)):.17g}")
fast = run_pe(a, b, config)
assert fast.value == np.float32(res.value) and fast.cycles == res.cycles
