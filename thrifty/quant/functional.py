"""The quantizer math of docs/design.md §3, free of modules: for weights, activations, gradients.

Two families of rounding functions, each at an integer bitlength:

- `int_quantize(x, b, lo, hi)`: asymmetric min-max, step Δ = (hi − lo)/(2^b − 1),
  Q = lo + Δ·round((x − lo)/Δ); `symmetric=True`: Δ = max(|lo|, |hi|)/(2^(b−1) − 1),
  Q = Δ·round(x/Δ). `round` is round-half-to-even (torch.round).
- `mantissa_quantize(x, k)`: round a float32 significand to k fraction bits,
  round-to-nearest-even on the bit pattern; k = 7 is exactly a bfloat16 cast.

and `fractional_quantize(x, n, ...)`, the continuous bitlength n: with b = floor(n) and
α = n − b, the output is (1 − α)·Q(x, b) + α·Q(x, b + 1), written Q(x, b) + α·(Q(x, b+1) −
Q(x, b)). One fused autograd Function computes both levels in one pass, keeps their difference
for the backward, and gives dL/dn = Σ dL/dout · (Q(x, b+1) − Q(x, b)) summed over the values that
share n, and dL/dx = dL/dout (straight-through estimator). Ranges are inputs, not learned: they
carry no gradient.

Shapes: `n`, `lo` and `hi` broadcast against `x` (keepdim-style, e.g. (1, C, 1, 1) for the
channels of an (N, C, H, W) input); the gradient of n is summed to n's own shape.
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: float32 fraction bits; a significand rounded to k bits drops 23 − k of them.
FLOAT32_FRACTION_BITS = 23


#: The quantizer kinds `fractional_quantize` computes (QuantizerConfig.kind).
KINDS = ("int", "int_symmetric", "float_mantissa")


def _int_levels(b: torch.Tensor, symmetric: bool) -> torch.Tensor:
    """Number of steps above zero: 2^b − 1 (asymmetric) or 2^(b−1) − 1 (symmetric)."""
    return torch.exp2(b - 1.0) - 1.0 if symmetric else torch.exp2(b) - 1.0


def level_step(width: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """The step width / levels of a range, or 1 where that is not positive: a range of width
    zero, or one so narrow that the division underflows to zero (a few subnormals wide). Both
    map every value to lo (to 0 when symmetric)."""
    step = width / levels
    return torch.where(step > 0, step, torch.ones_like(step))


def int_quantize(
    x: torch.Tensor,
    b: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    symmetric: bool = False,
    clamp: bool = False,
) -> torch.Tensor:
    """Q(x, b) at integer bitlength(s) `b` for the range [lo, hi] (the reference formula).

    `clamp=True` clips the integer codes to the range (needed when [lo, hi] was not taken from
    `x` itself, e.g. an activation in evaluation against its moving-average range). A range of
    width zero maps every value to lo (or 0 when symmetric).
    """
    levels = _int_levels(b, symmetric)
    if symmetric:
        scale = torch.maximum(lo.abs(), hi.abs())
        step = level_step(scale, levels)
        codes = torch.round(x / step)
        if clamp:
            codes = torch.maximum(torch.minimum(codes, levels), -levels)
        return codes * step
    span = hi - lo
    step = level_step(span, levels)
    codes = torch.round((x - lo) / step)
    if clamp:
        codes = torch.maximum(torch.minimum(codes, levels), torch.zeros_like(levels))
    return codes * step + lo


def _int_quantize_inplace(
    shifted: torch.Tensor, step: torch.Tensor, offset: torch.Tensor | None, limit: torch.Tensor
) -> torch.Tensor:
    """Same arithmetic as `int_quantize` on a fresh buffer: shifted/step, round, clip, ·step+lo."""
    codes = torch.div(shifted, step)
    codes.round_()
    if limit is not None:
        codes.clamp_(min=-limit if offset is None else 0.0).clamp_(max=limit)
    codes.mul_(step)
    if offset is not None:
        codes.add_(offset)
    return codes


def mantissa_quantize(x: torch.Tensor, k: torch.Tensor | int) -> torch.Tensor:
    """Round the float32 significand of `x` to `k` fraction bits, round-to-nearest-even.

    Works on the bit pattern, like a bfloat16 cast: add 2^(drop−1) − 1 plus the lowest kept
    bit, then clear the `drop = 23 − k` low bits. A carry into the exponent is the correct
    rounding (up to infinity past the largest finite value). Subnormals round the same way.
    NaN payloads are not preserved (callers reject NaN before). `k` broadcasts against `x`.
    """
    if x.dtype != torch.float32:
        raise TypeError(f"mantissa_quantize needs float32 values, got {x.dtype}")
    bits = x.contiguous().view(torch.int32)
    drop = FLOAT32_FRACTION_BITS - torch.as_tensor(k, dtype=torch.int32, device=x.device)
    if bool((drop <= 0).all()):
        return x.clone()
    one = torch.ones((), dtype=torch.int32, device=x.device)
    half_minus_one = torch.bitwise_left_shift(one, drop - 1) - 1
    lowest_kept = torch.bitwise_and(torch.bitwise_right_shift(bits, drop), 1)
    keep_mask = -torch.bitwise_left_shift(one, drop)  # ...1110000 with `drop` zeros
    rounded = torch.bitwise_and(bits + half_minus_one + lowest_kept, keep_mask)
    return rounded.view(torch.float32).view_as(x)


class _FusedFractional(torch.autograd.Function):
    """Q(x, b) + α·(Q(x, b+1) − Q(x, b)) in one pass; dn = Σ g·(Q(x, b+1) − Q(x, b)), dx = g."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        x: torch.Tensor,
        n: torch.Tensor,
        lo: torch.Tensor | None,
        hi: torch.Tensor | None,
        kind: str,
        clamp: bool,
        keep: tuple[int, ...] | None = None,
    ) -> torch.Tensor:
        ctx.n_shape = n.shape
        if keep is not None:  # n in its own shape, seen as `keep` (no autograd node for that)
            n = n.reshape(keep)
        ctx.n_keep_shape = n.shape
        with torch.no_grad():
            plan = _kernel_plan(x, kind, (n, lo, hi))
            if plan is not None:
                # the kernel's backward recomputes the level gap from x: nothing else is kept
                kernel_args = _kernel_args(n, lo, hi, kind, clamp, plan)
                out = _kernel_forward(x, kernel_args)
                saved = x
            else:
                kernel_args = None
                out, saved = _torch_levels(x, n, lo, hi, kind, clamp)  # saved: the level gap
        ctx.kernel_args = kernel_args
        ctx.keep = None if plan is None else plan[1]
        ctx.save_for_backward(saved)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (saved,) = ctx.saved_tensors
        grad_n = None
        if ctx.needs_input_grad[1]:
            if ctx.kernel_args is not None:
                grad_n = _kernel_grad(grad_out, saved, ctx.kernel_args).view(ctx.keep)
                if grad_n.shape != ctx.n_keep_shape:
                    grad_n = grad_n.sum_to_size(ctx.n_keep_shape)
            else:
                grad_n = (grad_out * saved).sum_to_size(ctx.n_keep_shape)
            if ctx.n_keep_shape != ctx.n_shape:
                grad_n = grad_n.reshape(ctx.n_shape)
        grad_x = grad_out if ctx.needs_input_grad[0] else None
        return grad_x, grad_n, None, None, None, None, None


def _kernel_plan(
    x: torch.Tensor, kind: str, params: tuple[torch.Tensor | None, ...]
) -> tuple[tuple[int, int, int], tuple[int, ...]] | None:
    """((A, P, B), keep shape) when the numba kernels can run on x, else None.

    They run on CPU float32 integer quantizers whose bitlength/range vary along one block of
    consecutive dimensions of x (every layout of `layout.py` does).
    """
    if not use_kernels() or kind == "float_mantissa":
        return None
    return layout_plan(x, params)


def layout_plan(
    x: torch.Tensor, params: tuple[torch.Tensor | None, ...]
) -> tuple[tuple[int, int, int], tuple[int, ...]] | None:
    """((A, P, B), keep shape): x seen as A·P rows of B values, row r using parameter r % P;
    None unless x is a CPU float32 tensor and the parameters vary along one block of its
    consecutive dimensions (every layout of `layout.py`)."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or x.ndim == 0:
        return None
    return shape_plan(x.shape, *(p.shape for p in params if p is not None))


def shape_plan(
    shape: torch.Size, *param_shapes: torch.Size
) -> tuple[tuple[int, int, int], tuple[int, ...]] | None:
    """`layout_plan` for a CPU float32 tensor of `shape` and parameters of `param_shapes`."""
    key = (shape, *param_shapes)
    if key not in _PLANS:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        _PLANS[key] = _shape_plan(shape, param_shapes)
    return _PLANS[key]


#: Plans by shapes (a training step asks for the same few shapes again and again).
_PLANS: dict[tuple, tuple[tuple[int, int, int], tuple[int, ...]] | None] = {}
_MAX_PLANS = 1024


def _shape_plan(
    shape: torch.Size, param_shapes: tuple[torch.Size, ...]
) -> tuple[tuple[int, int, int], tuple[int, ...]] | None:
    """`layout_plan` for a tensor of `shape` (CPU float32 checked by the caller)."""
    keep = _broadcast(*(tuple(p) for p in param_shapes))
    if keep is None:
        return None
    if len(keep) != len(shape) and math.prod(keep) != 1:
        return None
    varying = [d for d, size in enumerate(keep) if size != 1]
    if not varying:
        return (1, 1, math.prod(shape)), keep
    first, last = varying[0], varying[-1]
    if any(keep[d] != shape[d] for d in range(first, last + 1)):
        return None
    a = math.prod(shape[:first])
    b = math.prod(shape[last + 1 :])
    return (a, math.prod(keep), b), keep


def _broadcast(*shapes: tuple[int, ...]) -> tuple[int, ...] | None:
    """numpy broadcasting of a few small shapes (torch.broadcast_shapes is slow); None if
    they do not broadcast."""
    if all(shape == shapes[0] for shape in shapes):
        return shapes[0]
    ndim = max(len(shape) for shape in shapes)
    result = [1] * ndim
    for shape in shapes:
        for i, size in enumerate((1,) * (ndim - len(shape)) + shape):
            if size != 1:
                if result[i] not in (1, size):
                    return None
                result[i] = size
    return tuple(result)


def _flat(t: torch.Tensor, keep: tuple[int, ...], copy: bool = False) -> np.ndarray:
    """A small per-bitlength tensor as a flat float32 numpy array: a view when possible, a
    copy with `copy=True` (always a fresh array for one value, the common per-tensor case)."""
    if t.numel() == 1:
        return np.full(math.prod(keep), t.item(), np.float32)
    t = t.detach()
    if tuple(t.shape) != tuple(keep):
        t = t.expand(keep)
    flat = t.to(torch.float32).reshape(-1).contiguous().numpy()
    return flat.copy() if copy else flat


def _kernel_args(n, lo, hi, kind, clamp, plan):
    """The kernels' arguments besides the tensors: copies of the small per-bitlength arrays
    (the bitlength is clamped in place before the next forward, maybe before this backward)."""
    (a, p, _), keep = plan
    return (a * p, _flat(n, keep, copy=True), _flat(lo, keep, copy=True),
            _flat(hi, keep, copy=True), kind == "int_symmetric", clamp)  # fmt: skip


#: Values from which a kernel runs on several threads (when torch uses several): below it,
#: starting the threads costs more than they save.
PARALLEL_MIN_VALUES = 1 << 17


def _run_kernel(name: str, values: int, *args):
    """Run kernel `name` of `_kernels`, or its `_parallel` twin on torch's thread count for
    tensors of at least PARALLEL_MIN_VALUES values (the thread counts are left as found);
    returns what the kernel returns."""
    from thrifty.quant import _kernels

    threads = torch.get_num_threads()
    if threads < 2 or values < PARALLEL_MIN_VALUES:
        return getattr(_kernels, name)(*args)
    import numba

    kernel = getattr(_kernels, name + "_parallel")
    target = min(threads, numba.config.NUMBA_NUM_THREADS)
    if _NUMBA_POOL_STARTED[0] and numba.get_num_threads() == target:
        return kernel(*args)  # numba's count is already right: nothing to set or restore
    from thrifty._process_state import preserved_thread_counts

    with preserved_thread_counts():
        numba.set_num_threads(target)
        result = kernel(*args)
    _NUMBA_POOL_STARTED[0] = True
    return result


#: Whether a parallel kernel has run (numba's thread pool started: reading its thread count
#: can no longer start it, which would reset torch's count).
_NUMBA_POOL_STARTED = [False]


def _kernel_forward(x, kernel_args):
    flat = x.detach().contiguous().view(-1)
    out = torch.empty(x.shape, dtype=torch.float32)
    _run_kernel("fused_int", flat.numel(), flat.numpy(), *kernel_args, out.view(-1).numpy())
    return out


def _kernel_single(x, b, lo, hi, kind, clamp, plan):
    (a, p, _), keep = plan
    out = torch.empty(x.shape, dtype=torch.float32)
    _run_kernel(
        "single_int",
        x.numel(),
        x.detach().contiguous().view(-1).numpy(),
        a * p,
        _flat(b, keep),
        _flat(lo, keep),
        _flat(hi, keep),
        kind == "int_symmetric",
        clamp,
        out.view(-1).numpy(),
    )
    return out


def _kernel_grad(grad_out, x, kernel_args):
    bits = kernel_args[1]
    partial = np.empty(bits.size, dtype=np.float64)
    flat = x.detach().contiguous().view(-1)
    _run_kernel(
        "grad_recompute",
        flat.numel(),
        grad_out.contiguous().view(-1).numpy(),
        flat.numpy(),
        *kernel_args,
        partial,
    )
    if grad_out.dtype == torch.float32:
        return torch.from_numpy(partial.astype(np.float32))
    return torch.from_numpy(partial).to(grad_out.dtype)


_USE_KERNELS = [True]


def use_kernels(enabled: bool | None = None) -> bool:
    """Whether the numba CPU kernels are used (default True); pass a bool to switch.

    The PyTorch path computes the same values; switching is for tests and for comparison.
    """
    if enabled is not None:
        _USE_KERNELS[0] = bool(enabled)
    return _USE_KERNELS[0]


def _both_levels(
    x: torch.Tensor,
    b: torch.Tensor,
    lo: torch.Tensor | None,
    hi: torch.Tensor | None,
    kind: str,
    clamp: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q(x, b), Q(x, b + 1)) as fresh tensors, sharing the work common to both levels."""
    if kind == "float_mantissa":
        k = b.to(torch.int32)
        return mantissa_quantize(x, k), mantissa_quantize(x, k + 1)
    shifted = x if kind == "int_symmetric" else x - lo
    return _int_level(shifted, b, lo, hi, kind, clamp), _int_level(
        shifted, b + 1.0, lo, hi, kind, clamp
    )


def _int_level(
    shifted: torch.Tensor,
    b: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    kind: str,
    clamp: bool,
) -> torch.Tensor:
    """One integer level with the exact arithmetic of `int_quantize` (x − lo given as `shifted`;
    x itself when symmetric), in place on a fresh buffer."""
    symmetric = kind == "int_symmetric"
    levels = _int_levels(b, symmetric)
    if symmetric:
        scale = torch.maximum(lo.abs(), hi.abs())
        step = level_step(scale, levels)
        return _int_quantize_inplace(shifted, step, None, levels if clamp else None)
    span = hi - lo
    step = level_step(span, levels)
    return _int_quantize_inplace(shifted, step, lo, levels if clamp else None)


def quantize_at_integer(
    x: torch.Tensor,
    b: torch.Tensor,
    lo: torch.Tensor | None,
    hi: torch.Tensor | None,
    kind: str,
    clamp: bool,
) -> torch.Tensor:
    """Q(x, b) for an integer `b`, with a straight-through gradient for `x` (none for b)."""
    with torch.no_grad():
        plan = _kernel_plan(x, kind, (b, lo, hi))
        if kind == "float_mantissa":
            out = mantissa_quantize(x, b.to(torch.int32))
        elif plan is not None:
            out = _kernel_single(x, b, lo, hi, kind, clamp, plan)
        else:
            shifted = x if kind == "int_symmetric" else x - lo
            out = _int_level(shifted, b, lo, hi, kind, clamp)
    if x.requires_grad:
        return _StraightThrough.apply(x, out)
    return out


class _StraightThrough(torch.autograd.Function):
    """Returns `quantized`; the gradient goes to `x` unchanged."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return quantized

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        return grad_out, None


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown quantizer kind {kind!r}; use one of {list(KINDS)}")


def _torch_levels(x, n, lo, hi, kind, clamp) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q(x, b) + α·gap, gap) in PyTorch ops, gap = Q(x, b+1) − Q(x, b), b = floor(n)."""
    b = torch.floor(n)
    low, high = _both_levels(x, b, lo, hi, kind, clamp)
    gap = high.sub_(low)
    return low.addcmul_(n - b, gap), gap


def fractional_levels(
    x: torch.Tensor,
    n: torch.Tensor,
    lo: torch.Tensor | None = None,
    hi: torch.Tensor | None = None,
    kind: str = "int",
    clamp: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(the output of `fractional_quantize`, Q(x, b+1) − Q(x, b)), both without autograd.

    For an input that needs no gradient (a network's first layer): its bitlength's gradient
    Σ g·(Q(x, b+1) − Q(x, b)) can then be formed through the layer's product
    (`thrifty.quant.leaf_input`) without computing g = dL/dx.
    """
    _check_kind(kind)
    with torch.no_grad():
        plan = _kernel_plan(x, kind, (n, lo, hi))
        if plan is not None:
            from thrifty.quant import _kernels

            args = _kernel_args(n, lo, hi, kind, clamp, plan)
            out = torch.empty(x.shape, dtype=torch.float32)
            gap = torch.empty(x.shape, dtype=torch.float32)
            flat = x.detach().contiguous().view(-1)
            _kernels.fused_int_gap(flat.numpy(), *args, out.view(-1).numpy(), gap.view(-1).numpy())
            return out, gap
        return _torch_levels(x, n, lo, hi, kind, clamp)


def quantize_with_bits(
    x: torch.Tensor,
    bits: torch.Tensor,
    keep: tuple[int, ...],
    lo: torch.Tensor | None,
    hi: torch.Tensor | None,
    kind: str = "int",
    clamp: bool = False,
) -> torch.Tensor:
    """`fractional_quantize(x, bits.reshape(keep), ...)`, the bitlength's gradient returned in
    its own shape without an autograd node for the reshape (a quantizer calls this on every
    forward; each node costs microseconds of the step)."""
    if not bits.requires_grad:
        return fractional_quantize(x, bits.reshape(keep), lo, hi, kind, clamp)
    _check_kind(kind)
    return _FusedFractional.apply(x, bits, lo, hi, kind, clamp, keep)


def fractional_quantize(
    x: torch.Tensor,
    n: torch.Tensor,
    lo: torch.Tensor | None = None,
    hi: torch.Tensor | None = None,
    kind: str = "int",
    clamp: bool = False,
) -> torch.Tensor:
    """(1 − α)·Q(x, b) + α·Q(x, b + 1) with b = floor(n), α = n − b; differentiable in x and n.

    `kind` is "int", "int_symmetric" (both need the range `lo`, `hi`) or "float_mantissa"
    (n counts fraction bits; no range). When n needs no gradient and is an integer everywhere,
    only Q(x, b) is computed, so frozen layers cost one level.
    """
    _check_kind(kind)
    if not n.requires_grad:
        b = torch.floor(n)
        if bool((b == n).all()):
            return quantize_at_integer(x, b, lo, hi, kind, clamp)
    return _FusedFractional.apply(x, n, lo, hi, kind, clamp)
