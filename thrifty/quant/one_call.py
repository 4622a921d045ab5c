"""A quantizer module's forward in one kernel call, for the common case.

The forward of `WeightQuantizer` / `ActivationQuantizer` is a dozen small PyTorch operations
around one pass over the tensor: clamp the bitlength, take the min and the max, check that
they are finite, update the moving average, then quantize. Inside a training step each of
those small operations costs tens of microseconds (the layers' large operators have just
evicted the caches the dispatcher's code lives in), several times the cost of the one pass
that matters. `quantize_in_one_call` does all of it in a single numba call
(`_kernels.quantizer_step`), with the same arithmetic: the same output, bitlength clamp,
range, moving average (PyTorch's lerp, bit for bit) and errors as the step-by-step path, which
remains the path for everything this one does not cover.

It covers integer kinds (`int`, `int_symmetric`) with the data's own range (not a learned
one), float32 CPU tensors whose granularity the kernels' row layout fits (all of
`layout.py`'s), and no term counting (the `terms` criterion). `use_one_call(False)` switches
it off (for tests and comparison).
"""

from __future__ import annotations

import numpy as np
import torch

from thrifty.quant.functional import _kernel_grad, _run_kernel, shape_plan, use_kernels

_ENABLED = [True]


def use_one_call(enabled: bool | None = None) -> bool:
    """Whether quantizer modules take the one-call path where it applies (default True); pass
    a bool to switch. The step-by-step path computes the same values."""
    if enabled is not None:
        _ENABLED[0] = bool(enabled)
    return _ENABLED[0]


_NO_VALUES = np.empty(0, np.float32)
_NO_COUNT = np.zeros(1, np.int64)


def one_call_plan(quantizer, x: torch.Tensor) -> tuple[int, int, int] | None:
    """(A, P, B) of `_kernels` when `quantizer` can take x in one call, else None."""
    config = quantizer.config
    if (
        not _ENABLED[0]
        or config.kind == "float_mantissa"
        or quantizer.learned_range
        or quantizer.term_counting is not None
        or x.dtype != torch.float32
        or x.device.type != "cpu"
        or x.numel() == 0
        or quantizer.bitlength.dtype != torch.float32
        or getattr(quantizer, "running_lo", quantizer.bitlength).dtype != torch.float32
        or not use_kernels()
    ):
        return None
    viewed, _, keep = quantizer.layout.view(x)
    plan = shape_plan(viewed.shape, keep)
    return None if plan is None else plan[0]


class _OneCallQuantize(torch.autograd.Function):
    """The quantizer's output; dn = Σ g·(Q(x, b+1) − Q(x, b)) per bitlength, dx = g."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, x: torch.Tensor, bitlength: torch.Tensor, run
    ) -> torch.Tensor:
        out, _, kernel_args = run(x, False)
        ctx.kernel_args = kernel_args
        ctx.bits_shape = bitlength.shape
        ctx.save_for_backward(x)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        grad_n = None
        if ctx.needs_input_grad[1]:
            (x,) = ctx.saved_tensors
            grad_n = _kernel_grad(grad_out, x, ctx.kernel_args).view(ctx.bits_shape)
        grad_x = grad_out if ctx.needs_input_grad[0] else None
        return grad_x, grad_n, None


def quantize_in_one_call(
    quantizer,
    x: torch.Tensor,
    plan: tuple[int, int, int],
    update_ema: bool,
    use_running: bool,
    want_gap: bool = False,
):
    """The quantizer's forward of x (`plan` from `one_call_plan`): its output, differentiable
    in x and the bitlength, or with `want_gap` (x_q, level gap), neither carrying gradient.

    `update_ema` folds the batch range into the moving average; `use_running` quantizes
    against the average (once it has seen a batch), clipping. Raises the quantizer's
    QuantizationError when the bitlength or the range is not finite.
    """
    a, p, _ = plan
    if update_ema or use_running:
        running = (
            quantizer.running_lo.detach().view(-1).numpy(),
            quantizer.running_hi.detach().view(-1).numpy(),
            quantizer.num_batches_tracked.view(1).numpy(),
        )
    else:
        running = (_NO_VALUES, _NO_VALUES, _NO_COUNT)
    bits = quantizer.bitlength.detach().view(-1).numpy()
    config = quantizer.config
    symmetric = config.kind == "int_symmetric"

    def run(x: torch.Tensor, gap_too: bool):
        flat = x.detach().contiguous().view(-1)
        values = flat.numpy()
        out = torch.empty(x.shape, dtype=torch.float32)
        gap = torch.empty(x.shape, dtype=torch.float32) if gap_too else None
        lo, hi = np.empty(p, np.float32), np.empty(p, np.float32)
        code = _run_kernel(
            "quantizer_step", values.size, values, values.view(np.int32), a * p, bits,
            np.float32(config.min_bits), np.float32(config.max_bits), symmetric, update_ema,
            use_running, *running, np.float32(getattr(quantizer, "ema_momentum", 0.0)), lo, hi,
            out.view(-1).numpy(), _NO_VALUES if gap is None else gap.view(-1).numpy(),
        )  # fmt: skip
        if code < 0:
            quantizer._raise_not_finite("bitlength" if code == -1 else "range")
        return out, gap, (a * p, bits.copy(), lo, hi, symmetric, code == 1)

    if want_gap:
        out, gap, _ = run(x, True)
        return out, gap
    if torch.is_grad_enabled() and (x.requires_grad or quantizer.bitlength.requires_grad):
        return _OneCallQuantize.apply(x, quantizer.bitlength, run)
    return run(x, False)[0]
