"""Learned quantization ranges (LSQ-style step, PACT-style clip) for the integer quantizers.

The default quantizers take their range from min/max of the data and pass no gradient to it
(`functional.py`). With a learned range, [lo, hi] are parameters: the step of level b is
s_b = (hi − lo)/(2^b − 1) and

    Q(x, b) = lo + s_b · clamp(round((x − lo)/s_b), 0, 2^b − 1)

(symmetric: s_b = max(|lo|, |hi|)/(2^(b−1) − 1), Q = s_b · clamp(round(x/s_b), −L, L)), with
a straight-through round. Autograd then gives the gradients of Esser et al. (ICLR 2020, "Learned
Step Size Quantization"): for a value inside the range, dQ/ds = round(v) − v (v = (x − lo)/s);
for a clipped one, dQ/ds = ±L; dQ/dx = 1 inside (bounds included) and 0 outside (PACT's clip
gradient). As in
LSQ, the range's gradient is scaled by 1/sqrt(values per range · L) so that its updates are on
the scale of the range itself.

The continuous bitlength is interpolated as everywhere in thrifty: with b = floor(n) (detached)
and α = n − b, out = Q(x, b) + α·(Q(x, b+1) − Q(x, b)), so dL/dn = Σ g·(Q(x, b+1) − Q(x, b))
exactly as with min–max ranges. Pure PyTorch (no numba kernel): slower than the default path.
"""

from __future__ import annotations

import torch


def _round_ste(v: torch.Tensor) -> torch.Tensor:
    """round(v) in the forward, identity in the backward (straight-through)."""
    return v + (torch.round(v) - v).detach()


def _scale_grad(p: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """p in the forward; its gradient multiplied by `scale` in the backward."""
    return p * scale + (p - p * scale).detach()


def _level(
    x: torch.Tensor, b: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, symmetric: bool
) -> torch.Tensor:
    """Q(x, b) with a learnable range, differentiable in x, lo and hi (see module doc)."""
    if symmetric:
        levels = torch.exp2(b - 1.0) - 1.0
        step = torch.maximum(lo.abs(), hi.abs()).clamp_min(torch.finfo(x.dtype).tiny) / levels
        codes = _round_ste(x / step)
        return torch.clamp(codes, -levels, levels) * step
    levels = torch.exp2(b) - 1.0
    step = (hi - lo).clamp_min(torch.finfo(x.dtype).tiny) / levels
    codes = _round_ste((x - lo) / step)
    return torch.clamp(codes, torch.zeros_like(levels), levels) * step + lo


def learned_range_quantize(
    x: torch.Tensor,
    n: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    symmetric: bool = False,
) -> torch.Tensor:
    """(1 − α)·Q(x, b) + α·Q(x, b + 1) with a learned range [lo, hi]; see the module doc.

    `n`, `lo` and `hi` broadcast against `x` (keepdim shape). The range's gradient is scaled by
    1/sqrt(values per range · (2^b − 1)) at the lower level b. When n is an integer and needs
    no gradient (a frozen layer), only Q(x, b) is computed.
    """
    b = torch.floor(n.detach())
    per_range = max(x.numel() // max(lo.numel(), 1), 1)
    top = torch.exp2(b - 1.0 if symmetric else b) - 1.0
    scale = torch.rsqrt(per_range * top.clamp_min(1.0))
    lo_s, hi_s = _scale_grad(lo, scale), _scale_grad(hi, scale)
    low = _level(x, b, lo_s, hi_s, symmetric)
    if not n.requires_grad and bool((b == n).all()):
        return low
    alpha = n - b
    return low + alpha * (_level(x, b + 1.0, lo_s, hi_s, symmetric) - low)
