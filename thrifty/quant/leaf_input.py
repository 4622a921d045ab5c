"""The bitlength gradient of a layer input that needs no gradient itself (a network's first layer).

A quantized input x_q = Q(x, b) + α·(Q(x, b+1) − Q(x, b)) gets its bitlength's gradient
dL/dn = Σ g·gap with g = dL/dx_q and gap = Q(x, b+1) − Q(x, b) (`functional.py`). Through
autograd that needs g, the full input gradient of the layer, which a float network never forms
for its first layer: for the small CNN's first convolution (one input channel) it costs more
than the rest of the quantizer work of the step together.

The layer's product P(x, W) (a convolution or x·Wᵀ) is linear in x and in W, so with
G = dL/dout

    dL/dn = Σ_i g_i·gap_i = ⟨P*(G, W), gap⟩ = ⟨G, P(gap, W)⟩ = ⟨dW(gap, G), W⟩,

where dW(gap, G) is the layer's weight-gradient product with the gap in place of its input: a
product the backward already knows how to do cheaply (for a one-channel first convolution about
a tenth of the input-gradient product's time here), then a dot product with W. The layer
supplies it (`modules.py`: `_input_bits_gradient`). This holds for one bitlength per tensor;
other granularities and learned ranges (which need g itself) keep the autograd path.
The layer's input then carries no gradient, as in the float network: a trace of the step
records no input-gradient product for the layer, as for a float step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

BitsGradient = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""(gap, G, W) → ⟨G, P(gap, W)⟩ as a float64 scalar tensor, for the layer's product P."""


class _BitsThroughOutput(torch.autograd.Function):
    """Identity on the layer output; the backward adds dL/dn = ⟨G, P(gap, W)⟩."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, out: torch.Tensor, n: torch.Tensor, gap: torch.Tensor, weight: torch.Tensor,
        bits_gradient: BitsGradient,
    ) -> torch.Tensor:  # fmt: skip
        ctx.save_for_backward(gap, weight)
        ctx.bits_gradient = bits_gradient
        ctx.n_shape = n.shape
        # returned as an in-place result, not a view: a view made in a custom Function may not
        # be modified in place afterwards, and layers are often followed by ReLU(inplace=True)
        ctx.mark_dirty(out)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        gap, weight = ctx.saved_tensors
        grad_n = None
        if ctx.needs_input_grad[1]:
            with torch.no_grad():
                total = ctx.bits_gradient(gap, grad_out, weight)
            grad_n = total.to(grad_out.dtype).reshape(ctx.n_shape)
        return grad_out, grad_n, None, None, None


def attach_input_bits(
    out: torch.Tensor,
    n: torch.Tensor,
    gap: torch.Tensor,
    weight: torch.Tensor,
    bits_gradient: BitsGradient,
) -> torch.Tensor:
    """`out` (the layer's output from the detached quantized input), now carrying the input
    bitlength `n`'s gradient `bits_gradient(gap, G, weight)` in the backward."""
    return _BitsThroughOutput.apply(out, n, gap, weight.detach(), bits_gradient)
