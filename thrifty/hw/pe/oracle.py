"""The oracle: one term-serial bfloat16 PE and its bit-parallel baseline, scalar and exact.

What it models (docs/design.md §4, our reconstruction; docs/pe.md has a worked step):

- A reduction o = sum_k a[k] * b[k] of bfloat16 pairs is fed `lanes` pairs per step, in k order;
  the last step may have idle lanes. `a` is the serial operand (its significand is fed as terms,
  most significant first), `b` the bit-parallel one (its significand is shifted, not multiplied).
- A lane whose a or b is zero is idle. For an active lane, the product's exponent E is the weight
  of bit 15 of the 16-bit significand product: the highest bit a product (or a partial product
  b * 2**k, k <= 8) can reach.
- All lanes and the accumulator align to a common top T = max(max E + headroom, top bit of the
  accumulator). A term of lane i at position k lands at shift s = (T - E_i) + (8 - k) below T;
  it is out of bounds when s >= W = accumulator_bits + guard_bits: its partial product falls
  entirely below the window. With `window="product"` the accumulator does not enter T
  (T = max E + headroom) and W = product_window_bits: the window hangs from the step's largest
  product, as FPRaker-lineage datapaths do. Terms come most significant first, so once one is
  out of bounds the rest of the lane's are too.
- Cycles of a step = max over lanes of effectual terms (non-zero, in bounds), at least
  `min_cycles`. The baseline takes one cycle per step.
- Value: the in-bound partial products are summed exactly, truncated toward zero to the window's
  lowest bit 2**(T - W + 1), and added to the accumulator, rounding the exact sum once to
  `accumulator_bits` (round-to-nearest-even, float32 exponent range with subnormals). The
  baseline adds the exact products of the step to its own accumulator, one rounding per step.
- Accumulator edge cases: an exact zero sum gives +0; an overflow gives ±Inf, which then stays
  (its top bit counts as 2**128 when aligning).

Exactness: every value is a `Fraction`; Python rounds Fraction halves to even. This file is meant
to be read; `thrifty.hw.pe.fast` is the fast model that must agree with it bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from thrifty.hw.pe.config import PEConfig
from thrifty.numerics.terms import SIGNIFICAND_TOP_POSITION, reference_terms

TOP = SIGNIFICAND_TOP_POSITION  # highest term position of a significand (NAF: 2**8)
BF16_BIAS_PLUS_FRACTION = 127 + 7  # value = significand * 2**(exponent - 134)
PRODUCT_TOP_BIT = 15  # a product of two 8-bit significands is below 2**16
FLOAT32_MIN_EXPONENT = -126  # the accumulator has float32's exponent range
FLOAT32_MAX_EXPONENT = 127
INF_TOP_BIT = FLOAT32_MAX_EXPONENT + 1  # top bit of an infinite accumulator, for alignment


@dataclass
class OracleResult:
    """Everything one reduction produces: values, cycles and term counts."""

    value: float
    cycles: int
    baseline_value: float
    baseline_cycles: int
    terms_total: int = 0
    terms_out_of_bounds: int = 0
    terms_processed: int = 0
    idle_lane_steps: int = 0
    step_cycles: list[int] = field(default_factory=list)


def decode_bfloat16(bits: int) -> tuple[int, int, int] | None:
    """(sign, exponent field, significand) of a normal bfloat16 pattern; None for zero.

    The caller has applied the subnormal/NaN policies: only zeros and normals arrive here.
    """
    exponent = (bits >> 7) & 0xFF
    if exponent == 0:
        return None
    return (bits >> 15) & 1, exponent, 128 + (bits & 0x7F)


def top_bit(x: Fraction | float) -> int:
    """floor(log2 |x|) of a non-zero exact value (INF_TOP_BIT for an infinity)."""
    if isinstance(x, float):  # only ever an infinity
        return INF_TOP_BIT
    num, den = abs(x.numerator), x.denominator
    e = num.bit_length() - den.bit_length()
    return e if Fraction(num, den) >= Fraction(2) ** e else e - 1


def round_accumulator(x: Fraction, bits: int) -> Fraction | float:
    """Round an exact value to a `bits`-bit significand, nearest-even, float32 exponent range."""
    if x == 0:
        return Fraction(0)
    quantum = Fraction(2) ** max(top_bit(x) - bits + 1, FLOAT32_MIN_EXPONENT - bits + 1)
    rounded = round(x / quantum) * quantum  # round() of a Fraction: ties to even
    if abs(rounded) >= Fraction(2) ** (FLOAT32_MAX_EXPONENT + 1):
        return math.copysign(math.inf, x)
    return rounded


def add_to_accumulator(acc: Fraction | float, x: Fraction, bits: int) -> Fraction | float:
    """acc + x with one rounding; an infinite accumulator stays infinite."""
    if isinstance(acc, float):
        return acc
    return round_accumulator(acc + x, bits)


def run_oracle(a_bits: Sequence[int], b_bits: Sequence[int], config: PEConfig) -> OracleResult:
    """Run one reduction sum_k a[k] * b[k] of bfloat16 bit patterns through the PE and baseline."""
    n_lanes, window = config.lanes, config.window_bits
    acc: Fraction | float = Fraction(0)  # the term-serial PE's accumulator
    base: Fraction | float = Fraction(0)  # the bit-parallel baseline's accumulator
    out = OracleResult(value=0.0, cycles=0, baseline_value=0.0, baseline_cycles=0)
    for start in range(0, len(a_bits), n_lanes):
        # 1. The lanes of this step: active ones hold two non-zero operands.
        active = []
        for k in range(start, min(start + n_lanes, len(a_bits))):
            a, b = decode_bfloat16(a_bits[k]), decode_bfloat16(b_bits[k])
            if a is not None and b is not None:
                active.append((a, b))
        out.idle_lane_steps += n_lanes - len(active)  # zero operands and missing lanes
        out.baseline_cycles += 1
        if not active:
            out.step_cycles.append(config.min_cycles)
            continue

        # 2. Alignment: product exponents E_i (weight of product bit 15) and the common top T.
        def lsb(pair: tuple[tuple[int, int, int], tuple[int, int, int]]) -> int:
            (_, ea, _), (_, eb, _) = pair
            return (ea - BF16_BIAS_PLUS_FRACTION) + (eb - BF16_BIAS_PLUS_FRACTION)

        top = max(lsb(p) + PRODUCT_TOP_BIT for p in active) + config.headroom
        if acc != 0 and config.window == "accumulator":
            top = max(top, top_bit(acc))
        window_lsb = top - window + 1

        # 3. Terms, most significant first; count and sum the in-bound ones exactly.
        step_sum, exact_products, cycles = Fraction(0), Fraction(0), 0
        for pair in active:
            (sa, _, ma), (sb, _, mb) = pair
            sign = -1 if sa ^ sb else 1
            e_i = lsb(pair) + PRODUCT_TOP_BIT
            exact_products += sign * ma * mb * Fraction(2) ** lsb(pair)
            terms = reference_terms(ma, config.encoding)
            effectual = 0
            for position, term_sign in terms:
                shift = (top - e_i) + (TOP - position)
                if shift >= window:
                    break  # this term and every later (less significant) one are out of bounds
                step_sum += sign * term_sign * mb * Fraction(2) ** (lsb(pair) + position)
                effectual += 1
            out.terms_total += len(terms)
            out.terms_processed += effectual
            out.terms_out_of_bounds += len(terms) - effectual
            out.idle_lane_steps += effectual == 0  # every term out of bounds
            cycles = max(cycles, effectual)
        out.step_cycles.append(max(cycles, config.min_cycles))

        # 4. Truncate the step's sum toward zero to the window, then one rounding into each acc.
        unit = Fraction(2) ** window_lsb
        truncated = math.trunc(step_sum / unit) * unit
        acc = add_to_accumulator(acc, truncated, config.accumulator_bits)
        base = add_to_accumulator(base, exact_products, config.accumulator_bits)

    out.cycles = sum(out.step_cycles)
    out.value, out.baseline_value = float(acc), float(base)
    return out
