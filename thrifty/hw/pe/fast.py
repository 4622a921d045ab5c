"""The fast PE model: numba kernels that run many independent reductions at once.

Same model as `thrifty.hw.pe.oracle` (read that first), rewritten for speed:

- Operands arrive as bfloat16 bit patterns (uint16) with the subnormal/NaN policies applied, so
  the kernel sees only zeros and normals. `decode_operand` turns each operand into exponent,
  signed significand and term count once, before the reductions that reuse it many times.
- The terms of a significand never need to be walked one by one: the in-bound terms of a lane are
  exactly those at positions >= j (j from the alignment), so two tables indexed by (fraction, j)
  give their count and their signed sum (`thrifty.numerics.significand_tables`).
- Exact sums use 64-bit integers on a common grid when all addends lie within DIRECT_SPAN_BITS;
  otherwise (wide exponent spreads, a tiny accumulator under big products, ...) they go through a
  small exact superaccumulator of 30-bit limbs. Either way the exact sum is then rounded once,
  to nearest-even, with a sticky bit for the limbs below the top two: no double rounding.

Why numba: the per-step work (max exponent, a table lookup per lane, one exact rounding) is
branchy scalar code over tiny vectors (8 lanes); vectorized numpy/torch would materialise every
intermediate at M x N x K size. Measured in benchmarks/pe_throughput.py.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numba.cpython.unsafe.numbers import leading_zeros

LIMB_BITS = 30  # superaccumulator digit width: 2**33 signed additions fit an int64 limb
LIMB_MASK = (1 << LIMB_BITS) - 1
SA_MIN_WEIGHT = -330  # lowest bit weight held (bf16 products reach 2**-266, windows 2**-282)
SA_LIMBS = 22  # covers weights -330 .. 329 (products reach 2**255, alignment tops 2**263)
DIRECT_SPAN_BITS = 55  # addends spanning at most this many bits are summed in one int64
NARROW_PRODUCT_SPREAD = 40  # 64 products of 16 bits spread over 40 bits sum below 2**62
FLOAT32_MIN_EXPONENT = -126
FLOAT32_MAX_EXPONENT = 127
INF_TOP_BIT = FLOAT32_MAX_EXPONENT + 1
PRODUCT_TOP_BIT = 15  # weight of product bit 15 relative to its LSB
TOP_POSITION = 8  # highest term position of a significand
PRODUCT_LSB_OFFSET = 2 * (127 + 7)  # product LSB weight = exponent_a + exponent_b - 268
STAT_FIELDS = ("cycles", "terms_total", "terms_out_of_bounds", "terms_processed", "idle_lane_steps")


@njit(cache=True, inline="always")  # a call per step costs as much as its work
def _bit_length(x: int) -> int:
    """Number of bits of a non-negative int64 (0 for 0), via the count-leading-zeros instruction."""
    return 64 - leading_zeros(np.uint64(x))


@njit(cache=True, inline="always")  # a call per step costs as much as its work
def _round_magnitude(neg, mag, q, sticky, bits):
    """Round (-1)**neg * (mag + sticky epsilon) * 2**q to `bits` bits; -> (mantissa, exp, inf)."""
    if mag == 0:
        return 0, 0, False
    top = q + _bit_length(mag) - 1
    exp = max(top - bits + 1, FLOAT32_MIN_EXPONENT - bits + 1)
    shift = exp - q
    if shift <= 0:  # representable as is (sticky is only ever set when shift > 0)
        keep, exp = mag, q
    elif shift >= 63:  # mag < 2**62 <= half a quantum: rounds to zero
        return 0, 0, False
    else:
        keep = mag >> shift
        rem = mag & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        if rem > half or (rem == half and (sticky or (keep & 1) == 1)):
            keep += 1
    if keep == 0:
        return 0, 0, False
    if exp + _bit_length(keep) - 1 > FLOAT32_MAX_EXPONENT:
        return (-1 if neg else 1), 0, True
    return (-keep if neg else keep), exp, False


@njit(cache=True, inline="always")  # a call per step costs as much as its work
def _round_int(total, q, bits):
    """Round total * 2**q (|total| < 2**62) to `bits` bits; -> (signed mantissa, exp, inf).

    The same rounding as `_round_magnitude` without a sticky bit, written with sign masks and
    a 0/1 round-up so that random signs and remainders cost no mispredicted branch.
    """
    if total == 0:
        return 0, 0, False
    sign = total >> 63  # 0 or -1
    mag = (total ^ sign) - sign
    top = q + _bit_length(mag) - 1
    exp = max(top - bits + 1, FLOAT32_MIN_EXPONENT - bits + 1)
    shift = exp - q
    if shift <= 0:
        keep, exp = mag, q
    elif shift >= 63:  # mag < 2**62 <= half a quantum: rounds to zero
        return 0, 0, False
    else:
        keep = mag >> shift
        rem = mag & ((1 << shift) - 1)
        half = np.int64(1) << (shift - 1)
        keep += np.int64((rem > half) | ((rem == half) & ((keep & 1) == 1)))
        if keep == 0:
            return 0, 0, False
    if exp > FLOAT32_MAX_EXPONENT - 64 and exp + _bit_length(keep) - 1 > FLOAT32_MAX_EXPONENT:
        return (-1 if sign else 1), 0, True
    return (keep ^ sign) - sign, exp, False


@njit(cache=True)
def _sa_add(limbs, m, q):
    """Add m * 2**q (|m| < 2**62) into the superaccumulator; return the highest limb touched."""
    neg = m < 0
    mag = -m if neg else m
    pos = q - SA_MIN_WEIGHT
    idx = pos // LIMB_BITS
    off = pos - idx * LIMB_BITS
    chunk = (mag & ((1 << (LIMB_BITS - off)) - 1)) << off
    limbs[idx] += -chunk if neg else chunk
    rest = mag >> (LIMB_BITS - off)
    while rest:
        idx += 1
        chunk = rest & LIMB_MASK
        limbs[idx] += -chunk if neg else chunk
        rest >>= LIMB_BITS
    return idx


@njit(cache=True)
def _sa_propagate(limbs, lo, hi):
    for i in range(lo, hi + 1):
        carry = limbs[i] >> LIMB_BITS  # floor division: limbs become 0 .. 2**30 - 1
        limbs[i] -= carry << LIMB_BITS
        limbs[i + 1] += carry


@njit(cache=True)
def _sa_round(limbs, lo, hi, bits):
    """Round the superaccumulator's exact value (limbs lo..hi used) and clear it."""
    _sa_propagate(limbs, lo, hi)
    top = hi + 1
    while top >= lo and limbs[top] == 0:
        top -= 1
    if top < lo:
        return 0, 0, False
    neg = limbs[top] < 0
    if neg:
        for i in range(lo, hi + 2):
            limbs[i] = -limbs[i]
        _sa_propagate(limbs, lo, hi)
        top = hi + 1
        while limbs[top] == 0:
            top -= 1
    mag = limbs[top]
    q = top * LIMB_BITS + SA_MIN_WEIGHT
    sticky = False
    if top > lo:  # top two limbs (>= 31 bits) plus a sticky bit for the rest
        mag = (mag << LIMB_BITS) | limbs[top - 1]
        q -= LIMB_BITS
        for i in range(lo, top - 1):
            if limbs[i] != 0:
                sticky = True
    for i in range(lo, hi + 2):
        limbs[i] = 0
    return _round_magnitude(neg, mag, q, sticky, bits)


@njit(cache=True)
def _sum_round(mants, exps, n, bits, limbs):
    """Exact sum of mants[i] * 2**exps[i] (i < n, |mants| < 2**62), rounded once."""
    qmin = 1 << 30
    tmax = -(1 << 30)
    for i in range(n):
        m = mants[i]
        if m != 0:
            mag = -m if m < 0 else m
            qmin = min(qmin, exps[i])
            tmax = max(tmax, exps[i] + _bit_length(mag) - 1)
    if tmax < qmin:
        return 0, 0, False
    if tmax - qmin < DIRECT_SPAN_BITS:  # each addend < 2**55, at most 65 of them
        total = 0
        for i in range(n):
            if mants[i] != 0:
                total += mants[i] << (exps[i] - qmin)
        neg = total < 0
        return _round_magnitude(neg, -total if neg else total, qmin, False, bits)
    lo = SA_LIMBS
    hi = 0
    for i in range(n):
        if mants[i] != 0:
            lo = min(lo, (exps[i] - SA_MIN_WEIGHT) // LIMB_BITS)
            hi = max(hi, _sa_add(limbs, mants[i], exps[i]))
    return _sa_round(limbs, lo, hi, bits)


@njit(cache=True, inline="always")  # a call per step costs as much as its work
def _add_round(m1, e1, m2, e2, bits, limbs):
    """Exact m1 * 2**e1 + m2 * 2**e2 rounded once; m1 is the accumulator (already rounded)."""
    if m2 == 0:
        return m1, e1, False
    if m1 == 0:
        return _round_int(m2, e2, bits)
    mag1 = (m1 ^ (m1 >> 63)) - (m1 >> 63)
    mag2 = (m2 ^ (m2 >> 63)) - (m2 >> 63)
    qmin = min(e1, e2)
    tmax = max(e1 + _bit_length(mag1), e2 + _bit_length(mag2)) - 1
    if tmax - qmin < DIRECT_SPAN_BITS:
        return _round_int((m1 << (e1 - qmin)) + (m2 << (e2 - qmin)), qmin, bits)
    lo = (min(e1, e2) - SA_MIN_WEIGHT) // LIMB_BITS
    hi = max(_sa_add(limbs, m1, e1), _sa_add(limbs, m2, e2))
    return _sa_round(limbs, lo, hi, bits)


@njit(cache=True)
def _to_float(mant, exp, inf):
    if inf:
        return math.inf if mant > 0 else -math.inf
    return math.ldexp(float(mant), exp)


#: Decoded operand rows (`decode_operand`): one int16 array (rows, DECODED_FIELDS, K) per operand.
DECODED_FIELDS = 3
DEC_EXPONENT = 0  # biased exponent 1..254, or ZERO_EXPONENT for a zero operand
DEC_SIGNIFICAND = 1  # signed significand +-(128 + fraction), 0 for a zero operand
DEC_TERMS = 2  # terms of the significand (count_from[fraction, 0]), 0 for a zero operand
#: Exponent of a zero operand: any sum with another exponent (at most 254) stays negative,
#: so a lane is live exactly when its exponent sum is >= 0, without a test per operand.
ZERO_EXPONENT = -(1 << 14)
#: Added to a dead lane's (negative) exponent sum so that it exceeds every live sum (<= 508).
DEAD_LANE_LIFT = 1 << 16


@njit(cache=True, parallel=True, nogil=True)
def decode_operand(bits, count_from):
    """bfloat16 patterns (rows, K) -> decoded rows (rows, DECODED_FIELDS, K) int16.

    Decoding once per operand instead of once per multiply-accumulate: a row of A meets every
    column of B, so the shifts, masks, sign handling and term lookups of the reduction loop
    would otherwise be repeated N (or M) times. Zero operands (exponent field 0: the policies
    have already flushed subnormals) decode to ZERO_EXPONENT, significand 0 and no terms.
    """
    rows, k = bits.shape
    out = np.empty((rows, DECODED_FIELDS, k), np.int16)
    for r in prange(rows):
        for i in range(k):
            x = np.int64(bits[r, i])
            exponent = (x >> 7) & 0xFF
            fraction = x & 0x7F
            if exponent == 0:
                out[r, DEC_EXPONENT, i] = ZERO_EXPONENT
                out[r, DEC_SIGNIFICAND, i] = 0
                out[r, DEC_TERMS, i] = 0
            else:
                significand = 128 | fraction
                out[r, DEC_EXPONENT, i] = exponent
                out[r, DEC_SIGNIFICAND, i] = -significand if x & 0x8000 else significand
                out[r, DEC_TERMS, i] = count_from[fraction, 0]
    return out


@njit(cache=True, inline="always")  # inlined: no call, no reference counting per PE
def reduce_one(
    a, b, params, count_from, value_from, step_out, stats, mants, exps, limbs, merge, baseline
):
    """One reduction sum_k a[k] * b[k] (decoded rows, `decode_operand`); returns (value,
    baseline value), the baseline value 0.0 when `baseline` is False (its exact sums and
    roundings skipped: a caller that needs only the term-serial value and the counts).

    params = (lanes, window W, headroom, accumulator bits, min_cycles, 1 if the accumulator
    enters the alignment top T else 0). Writes per-step cycles into step_out (or, with
    `merge`, raises step_out[s] to them: the pace of a row of PEs) and (cycles, terms_total,
    terms_out_of_bounds, terms_processed, idle_lane_steps) into stats.

    A step whose lowest product still has every term inside the window (the common case) takes
    a short path: each lane's terms sum to its significand, so the term-serial sum is the
    exact product sum shifted to the window's grid, and one sum serves both PEs.
    """
    lanes, window, headroom, bits, min_cycles, acc_in_top = (
        params[0],
        params[1],
        params[2],
        params[3],
        params[4],
        params[5],
    )
    n_k = a.shape[1]
    a_exp, a_sig, a_terms = a[DEC_EXPONENT], a[DEC_SIGNIFICAND], a[DEC_TERMS]
    b_exp, b_sig = b[DEC_EXPONENT], b[DEC_SIGNIFICAND]
    acc_m, acc_e, acc_inf = 0, 0, False
    base_m, base_e, base_inf = 0, 0, False
    cycles = 0
    total = 0
    oob = 0
    processed = 0
    idle = 0
    step = 0
    for start in range(0, n_k, lanes):
        stop = min(start + lanes, n_k)
        active = 0
        max_sum = -(1 << 20)
        min_sum = 1 << 20
        for k in range(start, stop):  # without branches: zero operands are random
            exponent_sum = np.int64(a_exp[k]) + np.int64(b_exp[k])  # < 0: a zero operand
            dead = exponent_sum >> 63  # -1 for a dead lane, else 0
            active += 1 + dead
            max_sum = max(max_sum, exponent_sum)
            min_sum = min(min_sum, exponent_sum + (dead & DEAD_LANE_LIFT))
        max_lsb = max_sum - PRODUCT_LSB_OFFSET
        min_lsb = min_sum - PRODUCT_LSB_OFFSET
        idle += lanes - active
        if active == 0:
            if not merge or step_out[step] < min_cycles:
                step_out[step] = min_cycles
            cycles += min_cycles
            step += 1
            continue
        top = max_lsb + PRODUCT_TOP_BIT + headroom
        if acc_in_top == 0:
            pass  # product window: T hangs from the step's products alone
        elif acc_inf:
            top = max(top, INF_TOP_BIT)
        elif acc_m != 0:
            top = max(top, acc_e + _bit_length(acc_m if acc_m > 0 else -acc_m) - 1)
        window_lsb = top - window + 1
        grid = window_lsb - 7  # lowest bit any in-bound partial product (8 bits) can reach
        if min_lsb >= grid:  # kmin <= 0 for every lane: all terms in bound
            product_sum = 0
            step_max = 0
            # every significand has >= 1 term (count_from[f, 0] >= 1): no lane goes idle here;
            # a lane with a zero operand adds 0 terms and a 0 product (shifted by >= 0)
            for k in range(start, stop):
                bs = np.int64(b_sig[k])
                t = np.int64(a_terms[k]) * (bs != 0)
                total += t
                processed += t
                step_max = max(step_max, t)
                pm = np.int64(a_sig[k]) * bs  # signed exact product; 0 on a dead lane
                shift = np.int64(a_exp[k]) + np.int64(b_exp[k]) - min_sum  # < 0: dead lane
                product_sum += pm << max(shift, 0)
            step_cycles = max(step_max, min_cycles)
            if not merge or step_out[step] < step_cycles:
                step_out[step] = step_cycles
            cycles += step_cycles
            step += 1
            if not acc_inf:
                term_sum = product_sum << (min_lsb - grid)
                sign = term_sum >> 63  # truncate toward zero: on the magnitude
                trunc = ((((term_sum ^ sign) - sign) >> 7) ^ sign) - sign
                acc_m, acc_e, acc_inf = _add_round(acc_m, acc_e, trunc, window_lsb, bits, limbs)
            if baseline and not base_inf:
                base_m, base_e, base_inf = _add_round(
                    base_m, base_e, product_sum, min_lsb, bits, limbs
                )
            continue
        # baseline products (16 bits) go straight into one int64 when their spread allows
        narrow = max_lsb - min_lsb <= NARROW_PRODUCT_SPREAD
        term_sum = 0
        product_sum = 0
        step_max = 0
        j = 0
        for k in range(start, stop):
            exponent_sum = np.int64(a_exp[k]) + np.int64(b_exp[k])
            if exponent_sum < 0:  # a zero operand
                continue
            sa = np.int64(a_sig[k])
            sb = np.int64(b_sig[k])
            frac = (sa if sa > 0 else -sa) & 0x7F
            mb = sb if sb > 0 else -sb
            neg = (sa ^ sb) < 0
            lsb = exponent_sum - PRODUCT_LSB_OFFSET
            # first in-bound position: shift (top - E) + (8 - k) < W with E = lsb + 15
            kmin = top - lsb - PRODUCT_TOP_BIT + TOP_POSITION - window + 1
            kc = 0 if kmin < 0 else (9 if kmin > 9 else kmin)
            c = count_from[frac, kc]
            t = count_from[frac, 0]
            total += t
            processed += c
            oob += t - c
            if c == 0:
                idle += 1
            else:
                step_max = max(step_max, c)
                v = (value_from[frac, kc] * mb) << (lsb + kc - grid)
                term_sum += -v if neg else v
            if baseline:
                pm = (128 | frac) * mb
                if neg:
                    pm = -pm
                if narrow:
                    product_sum += pm << (lsb - min_lsb)
                else:
                    mants[j] = pm
                    exps[j] = lsb
                    j += 1
        step_cycles = max(step_max, min_cycles)
        if not merge or step_out[step] < step_cycles:
            step_out[step] = step_cycles
        cycles += step_cycles
        step += 1
        # term-serial value: truncate toward zero to the window, then one rounding
        if not acc_inf:
            trunc = (term_sum if term_sum > 0 else -term_sum) >> 7
            if term_sum < 0:
                trunc = -trunc
            acc_m, acc_e, acc_inf = _add_round(acc_m, acc_e, trunc, window_lsb, bits, limbs)
        # baseline: exact products plus its accumulator, one rounding
        if baseline and not base_inf:
            if narrow:
                base_m, base_e, base_inf = _add_round(
                    base_m, base_e, product_sum, min_lsb, bits, limbs
                )
            else:
                mants[j] = base_m
                exps[j] = base_e
                base_m, base_e, base_inf = _sum_round(mants, exps, j + 1, bits, limbs)
    stats[0] = cycles
    stats[1] = total
    stats[2] = oob
    stats[3] = processed
    stats[4] = idle
    return _to_float(acc_m, acc_e, acc_inf), _to_float(base_m, base_e, base_inf)


@njit(cache=True, parallel=True)
def pairs_kernel(a, b, params, count_from, value_from, values, base, stats, step_cycles):
    """Reductions r: a[r] . b[r] for decoded a, b of shape (R, DECODED_FIELDS, K)."""
    n_rows = a.shape[0]
    lanes = params[0]
    block = 64
    for blk in prange((n_rows + block - 1) // block):
        mants = np.zeros(lanes + 2, dtype=np.int64)
        exps = np.zeros(lanes + 2, dtype=np.int64)
        limbs = np.zeros(SA_LIMBS + 2, dtype=np.int64)
        for r in range(blk * block, min((blk + 1) * block, n_rows)):
            v, bv = reduce_one(
                a[r], b[r], params, count_from, value_from, step_cycles[r], stats[r],
                mants, exps, limbs, False, True,
            )  # fmt: skip
            values[r] = v
            base[r] = bv


@njit(cache=True, parallel=True)
def matmul_kernel(a, bt, params, count_from, value_from, values, base, stats, step_cycles):
    """Reductions (m, n): a[m] . bt[n] for decoded a (M, DECODED_FIELDS, K) and bt (N, ..., K)."""
    n_rows = a.shape[0]
    n_cols = bt.shape[0]
    lanes = params[0]
    for m in prange(n_rows):
        mants = np.zeros(lanes + 2, dtype=np.int64)
        exps = np.zeros(lanes + 2, dtype=np.int64)
        limbs = np.zeros(SA_LIMBS + 2, dtype=np.int64)
        for n in range(n_cols):
            v, bv = reduce_one(
                a[m], bt[n], params, count_from, value_from, step_cycles[m, n], stats[m, n],
                mants, exps, limbs, False, True,
            )  # fmt: skip
            values[m, n] = v
            base[m, n] = bv
