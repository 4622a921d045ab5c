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
supplies it (`modules.py`: `_input_bits_gradient`, through `attach_input_bits`); a convolution
with zero padding given as numbers and no groups forms it in its own backward node
(`leaf_convolution`). This holds for one bitlength per tensor;
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


class _LeafConvolution(torch.autograd.Function):
    """conv(x_q, W) + b as one autograd node whose backward forms the weight (and bias)
    gradient and dW(gap, G), two weight-gradient products over G, then ⟨dW(gap, G), W⟩.

    Two products rather than one over the input [x_q, gap] stacked along the channels: alone
    and warm the stacked product is the cheaper (small CNN's first layer: 0.45 ms against
    2 × 0.3 ms), but inside the training step it took 1.7–2.4 ms against 0.7–0.8 ms for each
    one-channel product (torch profiler)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, x_q: torch.Tensor, gap: torch.Tensor, weight: torch.Tensor,
        bias: torch.Tensor | None, n: torch.Tensor, layer: torch.nn.Module,
    ) -> torch.Tensor:  # fmt: skip
        ctx.save_for_backward(x_q, gap, weight)
        ctx.layer = layer
        ctx.has_bias = bias is not None
        ctx.n_shape = n.shape
        return layer._conv_forward(x_q, weight, bias)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        x_q, gap, weight = ctx.saved_tensors
        layer = ctx.layer
        need_weight, need_bias, need_bits = (ctx.needs_input_grad[i] for i in (2, 3, 4))
        bias = ctx.has_bias and need_bias
        grad_weight = grad_bias = grad_n = None
        with torch.no_grad():
            if need_weight or bias:
                _, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
                    grad_out, x_q, weight, [weight.shape[0]] if bias else None, layer.stride,
                    numeric_padding(layer), layer.dilation, False, (0,) * len(layer.kernel_size),
                    1, (False, True, bias),
                )  # fmt: skip
            if need_bits:  # the layer's own dW(gap, G) product and dot with W
                total = layer._input_bits_gradient(gap, grad_out, weight)
                grad_n = total.to(grad_out.dtype).reshape(ctx.n_shape)
        return None, None, grad_weight if need_weight else None, grad_bias, grad_n, None


def numeric_padding(layer: torch.nn.Module) -> tuple[int, ...]:
    """A convolution's zero padding as numbers ('valid' is none; 'same' has no fixed value
    here and is not accepted)."""
    if layer.padding == "valid":
        return (0,) * len(layer.kernel_size)
    return tuple(layer.padding)


def takes_leaf_convolution(layer: torch.nn.Module) -> bool:
    """True for a convolution whose input bitlength gradient `leaf_convolution` forms: no
    groups, zero padding given as numbers or 'valid' (other convolutions take the generic
    `attach_input_bits`)."""
    return (
        isinstance(layer, torch.nn.modules.conv._ConvNd)
        and not layer.transposed
        and layer.groups == 1
        and layer.padding_mode == "zeros"
        and layer.padding != "same"
    )


def leaf_convolution(
    layer: torch.nn.Module,
    x_q: torch.Tensor,
    gap: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    n: torch.Tensor,
) -> torch.Tensor:
    """`layer`'s convolution of x_q (no gradient) with `weight` and `bias`, whose backward also
    gives the input bitlength `n` its gradient ⟨dW(gap, G), W⟩ (see `takes_leaf_convolution`)."""
    return _LeafConvolution.apply(x_q, gap, weight, bias, n, layer)
