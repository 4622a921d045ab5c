"""Term counts of quantized values at b = floor(n) and b + 1, recorded in the forward pass.

The `terms` criterion (`costs.terms_cost`) prices a bitlength by the terms a term-serial PE
would spend on the quantized values. A quantizer with counting switched on
(`costs.set_term_counting`) records, at every forward, a `TermCounts` for its values: per
bitlength group, the mean number of terms per value (or the distribution of the counts) at both
interpolation levels, in one extra pass over the tensor (no second forward). The counts are
plain detached numbers: only the bitlength n carries a gradient, through the interpolation
weight α = n − floor(n) that the cost applies to them, as the quantizer applies it to Q.

What is counted, per value (docs/quantization.md, "The terms criterion"):

- `int` (asymmetric): the integer code c = round((x − lo)/Δ), by default centred on the zero
  point z = round(−lo/Δ) clipped to the codes, i.e. the signed integer c − z of an accelerator
  that subtracts zero points before multiplying (z = 0 when the range starts at 0, e.g. after a
  ReLU): terms of |c − z|; with `centred=False` the raw code c, as `thrifty.hw.sim.inference`
  multiplies it (zero points enter as corrections there).
- `int_symmetric`: the signed code round(x/Δ); terms of its magnitude.
- `float_mantissa` at k fraction bits: the rounded significand with its hidden bit,
  m = 2^k + fraction, as the term-serial PE recodes it (zeros and subnormals: no terms).

Two paths compute the same counts: the numba kernels of `_term_kernels` (CPU float32, every
layout of `layout.py`) and a PyTorch/numpy path for the rest (other devices, kernels off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from thrifty.numerics.terms import term_count
from thrifty.quant import _term_kernels
from thrifty.quant.functional import (
    FLOAT32_FRACTION_BITS,
    _flat,
    layout_plan,
    level_step,
    mantissa_quantize,
    use_kernels,
)

#: Histogram bins of the term counts (0 .. BINS − 1 terms).
BINS = _term_kernels.BINS


@dataclass(frozen=True)
class TermCounting:
    """What a quantizer records: the encoding, and whether the whole distribution is needed."""

    encoding: str = "naf"
    histogram: bool = False
    centred: bool = True


@dataclass(frozen=True)
class TermCounts:
    """One quantizer's term counts from its last forward (detached, float64, per group p).

    `level` (P,): the floor(n) the counts were taken at. `low` / `high`: at level and level + 1,
    the mean terms per value (shape (P,)), or with `histogram` the fraction of values having
    t = 0 .. BINS − 1 terms (shape (P, BINS)). `values`: values per group; `encoding`: the
    term encoding counted.
    """

    level: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor
    histogram: bool
    values: int
    encoding: str = "naf"
    centred: bool = True


def count_terms(
    x: torch.Tensor,
    n: torch.Tensor,
    lo: torch.Tensor | None,
    hi: torch.Tensor | None,
    kind: str,
    clamp: bool,
    counting: TermCounting,
) -> TermCounts:
    """Term counts of Q(x, floor(n)) and Q(x, floor(n) + 1) per bitlength group.

    Arguments as `functional.fractional_quantize` takes them: `n`, `lo`, `hi` broadcast against
    x keepdim-style (one value per group).
    """
    with torch.no_grad():
        x, n = x.detach(), n.detach()
        plan = layout_plan(x, (n, lo, hi)) if use_kernels() else None
        if plan is not None:
            low, high, groups = _kernel_counts(x, n, lo, hi, kind, clamp, counting, plan)
        else:
            low, high, groups = _torch_counts(x, n, lo, hi, kind, clamp, counting)
        values = x.numel() // groups
        low, high = low.to(torch.float64) / values, high.to(torch.float64) / values
        level = torch.floor(n).expand(_keep_shape(x, n, lo, hi)).reshape(-1)
    level = level.to(torch.float64)
    return TermCounts(
        level, low, high, counting.histogram, values, counting.encoding, counting.centred
    )


def _keep_shape(x, *params) -> tuple[int, ...]:
    shape = [1] * x.ndim
    for p in params:
        if p is not None:
            for d, size in enumerate((1,) * (x.ndim - p.ndim) + tuple(p.shape)):
                shape[d] = max(shape[d], size)
    return tuple(shape)


def _kernel_counts(x, n, lo, hi, kind, clamp, counting, plan):
    (a, p, _), keep = plan
    rows = a * p
    code = _term_kernels.ENCODING_CODES[counting.encoding]
    size = (p, BINS if counting.histogram else 1)
    low, high = np.empty(size, np.int64), np.empty(size, np.int64)
    flat = x.contiguous().view(-1)
    if kind == "float_mantissa":
        _term_kernels.mantissa_terms(
            flat.view(torch.int32).numpy(), rows, _flat(n, keep), code, counting.histogram,
            low, high,
        )  # fmt: skip
    else:
        _term_kernels.int_terms(
            flat.numpy(), rows, _flat(n, keep), _flat(lo, keep), _flat(hi, keep),
            kind == "int_symmetric", clamp, counting.centred, code, counting.histogram, low, high,
        )  # fmt: skip
    if not counting.histogram:
        low, high = low[:, 0], high[:, 0]
    return torch.from_numpy(low), torch.from_numpy(high), p


def _torch_counts(x, n, lo, hi, kind, clamp, counting):
    """The same counts with PyTorch ops and `numerics.terms.term_count` (any device)."""
    keep = _keep_shape(x, n, lo, hi)
    dims = tuple(d for d in range(x.ndim) if keep[d] == 1)
    groups = int(np.prod(keep))
    level = torch.floor(n)
    results = []
    for b in (level, level + 1.0):
        terms = _value_terms(x.float(), b, lo, hi, kind, clamp, counting)
        if counting.histogram:
            hist = torch.stack(
                [(terms == t).sum(dim=dims, keepdim=True) for t in range(BINS)], dim=-1
            )
            results.append(hist.reshape(groups, BINS).cpu())
        else:
            results.append(terms.sum(dim=dims, keepdim=True).reshape(groups).cpu())
    return results[0], results[1], groups


def _value_terms(x, b, lo, hi, kind, clamp, counting) -> torch.Tensor:
    """Terms of each value quantized at the integer level(s) b (int64 tensor shaped like x)."""
    if kind == "float_mantissa":
        k = b.to(torch.int32).expand(_keep_shape(x, b))
        pattern = mantissa_quantize(x.float(), k).view(torch.int32)
        exponent = torch.bitwise_and(torch.bitwise_right_shift(pattern, 23), 0xFF)
        drop = FLOAT32_FRACTION_BITS - k
        fraction = torch.bitwise_right_shift(torch.bitwise_and(pattern, 0x7FFFFF), drop)
        magnitude = torch.bitwise_or(fraction, torch.bitwise_left_shift(torch.ones_like(k), k))
        magnitude = torch.where((exponent == 0) | (exponent == 0xFF), 0, magnitude)
    else:
        symmetric = kind == "int_symmetric"
        if symmetric:
            levels = torch.exp2(b - 1.0) - 1.0
            scale = torch.maximum(lo.abs(), hi.abs())
            step = level_step(scale, levels)
            code = torch.round(x / step)
            if clamp:
                code = torch.maximum(torch.minimum(code, levels), -levels)
        else:
            levels = torch.exp2(b) - 1.0
            span = hi - lo
            step = level_step(span, levels)
            code = torch.round((x - lo) / step)
            if clamp:
                code = torch.maximum(torch.minimum(code, levels), torch.zeros_like(levels))
            if counting.centred:
                zero = torch.round(-lo / step)
                code = code - torch.maximum(torch.minimum(zero, levels), torch.zeros_like(levels))
        magnitude = code.abs().to(torch.int64)
    counts = term_count(magnitude.cpu().numpy(), counting.encoding)
    return torch.from_numpy(counts).to(x.device)
