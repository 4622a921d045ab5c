"""Quantizer modules: one learnable bitlength (per tensor, channel or group) and its ranges.

A `WeightQuantizer` takes its range from the weight at every call (the weight changes every
step). An `ActivationQuantizer` takes batch min/max in training and keeps an exponential moving
average of them (`running_lo`, `running_hi`, saved in the state dict) used in evaluation (and,
with `training_range="ema"`, in training too).

With `range="learned"` in the config, the range is a pair of parameters (`range_lo`,
`range_hi`, at the granularity of the bitlength) trained by their LSQ-style gradient
(`learned_range.py`): a weight's start at the weight's min/max when the layer is built
(`init_range_`), an input's at the first training batch's min/max.

Every call first clamps the stored bitlength into [min_bits, max_bits] (in place, on `.data`,
so it needs nothing from the user after an optimizer step), then checks that the range and the
bitlength are finite — the range tensors are tiny, so the check is cheap — and raises
QuantizationError naming the layer otherwise.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from thrifty.errors import QuantizationError
from thrifty.quant.config import QuantizerConfig
from thrifty.quant.functional import fractional_levels, quantize_with_bits
from thrifty.quant.layout import Layout, reduce_range
from thrifty.quant.learned_range import learned_range_quantize
from thrifty.quant.one_call import one_call_plan, quantize_in_one_call
from thrifty.quant.term_counts import TermCounting, TermCounts, count_terms


def _all_finite(*tensors: torch.Tensor) -> bool:
    """True when every value is finite. Cheap for the tiny range and bitlength tensors it
    checks: one-value tensors (per-tensor granularity) through Python floats (their sum is
    finite exactly when each is: three float32 values cannot overflow a float64), other CPU
    float32 tensors through numpy."""
    if all(t.numel() == 1 for t in tensors):
        return math.isfinite(sum(t.item() for t in tensors))
    if all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors):
        return all(bool(np.isfinite(t.detach().numpy()).all()) for t in tensors)
    return all(bool(torch.isfinite(t).all()) for t in tensors)


class Quantizer(nn.Module):
    """Common part: the bitlength parameter `bitlength` and its bounds; see the subclasses.

    `bits` is the current bitlength tensor (an nn.Parameter, requires_grad when learnable and
    not frozen), or None when the config disables this quantizer (the tensor stays float).
    """

    role = "tensor"

    def __init__(self, config: QuantizerConfig, layout: Layout, layer_name: str) -> None:
        super().__init__()
        self.config = config
        self.layout = layout
        self.layer_name = layer_name
        self.bitlength = nn.Parameter(
            torch.full(layout.bits_shape, float(config.init_bits)),
            requires_grad=config.learnable,
        )
        #: What to count in each forward for the terms criterion (None: nothing; see
        #: `term_counts.set_term_counting`), and the counts of the last forward.
        self.term_counting: TermCounting | None = None
        self.term_counts: TermCounts | None = None
        if config.range == "learned" and config.enabled:
            self.range_lo = nn.Parameter(torch.zeros(layout.bits_shape))
            self.range_hi = nn.Parameter(torch.ones(layout.bits_shape))

    @property
    def learned_range(self) -> bool:
        """True when the range is a learned parameter pair rather than the data's min/max."""
        return self.config.range == "learned" and self.config.enabled

    @torch.no_grad()
    def init_range_(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        """Set the learned range to [lo, hi] (keepdim shapes accepted)."""
        self.range_lo.copy_(lo.reshape(self.range_lo.shape))
        self.range_hi.copy_(hi.reshape(self.range_hi.shape))

    @property
    def bits(self) -> torch.Tensor | None:
        """The current bitlength (fraction bits for float_mantissa); None when disabled."""
        return self.bitlength if self.config.enabled else None

    @property
    def frozen(self) -> bool:
        """True when the bitlength does not learn (fixed by config, or after `freeze`)."""
        return not self.bitlength.requires_grad

    def clamp_bits_(self) -> None:
        """Clip the stored bitlength to [min_bits, max_bits] without touching autograd state."""
        self.bitlength.data.clamp_(self.config.min_bits, self.config.max_bits)

    def freeze_(self) -> None:
        """Round the bitlength up to an integer (within the bounds) and stop it learning."""
        with torch.no_grad():
            self.clamp_bits_()
            self.bitlength.copy_(torch.ceil(self.bitlength))
            self.clamp_bits_()
        self.bitlength.requires_grad_(False)

    def _check(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        if not _all_finite(lo, hi, self.bitlength):
            self._raise_not_finite("range" if _all_finite(self.bitlength) else "bitlength")

    def _raise_not_finite(self, what: str) -> None:
        raise QuantizationError(
            f"layer {self.layer_name!r}: the {self.role} quantizer's {what} is not finite "
            f"(NaN or Inf reached it; granularity {self.layout.granularity}); check the "
            "inputs, the learning rate and the loss for overflow"
        )

    def _quantize(
        self,
        x: torch.Tensor,
        lo: torch.Tensor,
        hi: torch.Tensor,
        keep: tuple[int, ...],
        clamp: bool,
    ) -> torch.Tensor:
        if self.learned_range:
            self._check(self.range_lo, self.range_hi)
            lo, hi = self.range_lo.reshape(keep), self.range_hi.reshape(keep)
            clamp = True  # a learned range clips the values outside it
        if self.term_counting is not None:
            self._count_terms(x, self.bitlength.reshape(keep), lo, hi, clamp)
        if self.learned_range:
            n = self.bitlength.reshape(keep)
            return learned_range_quantize(x, n, lo, hi, self.config.kind == "int_symmetric")
        return quantize_with_bits(x, self.bitlength, keep, lo, hi, self.config.kind, clamp)

    def _count_terms(self, x, n, lo, hi, clamp) -> None:
        if self.term_counting is not None:
            kind, counting = self.config.kind, self.term_counting
            self.term_counts = count_terms(x, n, lo, hi, kind, clamp, counting)

    def extra_repr(self) -> str:
        bits = self.bitlength.detach()
        shown = f"{bits.item():.3f}" if bits.numel() == 1 else f"mean {bits.mean().item():.3f}"
        return (
            f"layer={self.layer_name!r}, kind={self.config.kind}, "
            f"granularity={self.layout.granularity}, bits={shown}, "
            f"range=[{self.config.min_bits:g}, {self.config.max_bits:g}], "
            f"learnable={not self.frozen}, enabled={self.config.enabled}"
            + (", learned_range=True" if self.learned_range else "")
        )


class WeightQuantizer(Quantizer):
    """Quantizes a weight with the range of the weight itself (min/max at the granularity)."""

    role = "weight"

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if not self.config.enabled:
            return weight
        plan = one_call_plan(self, weight)
        if plan is not None:
            return quantize_in_one_call(self, weight, plan, update_ema=False, use_running=False)
        self.clamp_bits_()
        viewed, dims, keep = self.layout.view(weight)
        with torch.no_grad():
            lo, hi = reduce_range(viewed.detach(), dims)
        self._check(lo, hi)
        out = self._quantize(viewed, lo, hi, keep, clamp=False)
        return out if viewed is weight else out.view_as(weight)


class ActivationQuantizer(Quantizer):
    """Quantizes a layer input: batch range in training (and EMA update), EMA in evaluation.

    With `training_range="ema"` training uses the moving average too (after updating it with
    the batch), clipping the values outside it, as evaluation does.
    """

    role = "activation"

    def __init__(
        self,
        config: QuantizerConfig,
        layout: Layout,
        layer_name: str,
        ema_momentum: float,
        training_range: str = "batch",
    ) -> None:
        super().__init__(config, layout, layer_name)
        self.ema_momentum = ema_momentum
        self.training_range = training_range
        self.register_buffer("running_lo", torch.zeros(layout.bits_shape))
        self.register_buffer("running_hi", torch.zeros(layout.bits_shape))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.config.enabled:
            return x
        plan = one_call_plan(self, x)
        if plan is not None:
            return quantize_in_one_call(self, x, plan, self.training, self._uses_average)
        viewed, lo, hi, keep, clamp = self._range(x)
        out = self._quantize(viewed, lo, hi, keep, clamp)
        return out if viewed is x else out.view_as(x)

    def takes_leaf_path(self, x: torch.Tensor) -> bool:
        """True when the bitlength's gradient should come through the layer's product
        (`thrifty.quant.leaf_input`): x needs no gradient but the one bitlength does."""
        return (
            self.config.enabled
            and torch.is_grad_enabled()
            and not x.requires_grad
            and self.bitlength.requires_grad
            and self.bitlength.numel() == 1
            and not self.learned_range
        )

    def leaf_levels(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x_q, level gap, bitlength) for `takes_leaf_path` inputs: x_q equals `forward(x)`
        but carries no gradient; the caller attaches the bitlength's through its product."""
        plan = one_call_plan(self, x)
        if plan is not None:
            out, gap = quantize_in_one_call(
                self, x, plan, self.training, self._uses_average, want_gap=True
            )
            return out, gap, self.bitlength.reshape(self.layout.view(x)[2])
        viewed, lo, hi, keep, clamp = self._range(x)
        n = self.bitlength.reshape(keep)
        self._count_terms(viewed, n, lo, hi, clamp)
        out, gap = fractional_levels(viewed, n, lo, hi, self.config.kind, clamp)
        return out.view_as(x), gap.view_as(x), n

    def _range(self, x: torch.Tensor):
        """(x viewed per bitlength, lo, hi, keepdim shape, clamp) for this call, updating the
        moving average in training."""
        self.clamp_bits_()
        viewed, dims, keep = self.layout.view(x)
        with torch.no_grad():
            lo, hi = reduce_range(viewed.detach(), dims)
            self._check(lo, hi)
            if self.learned_range and int(self.num_batches_tracked) == 0:
                self.init_range_(lo, hi)  # the first batch's min/max, as LSQ starts from data
            if self.training:
                self._update_ema(lo, hi)
        clamp = False
        if self._uses_average and int(self.num_batches_tracked) > 0:
            lo = self.running_lo.reshape(keep).to(x.dtype)
            hi = self.running_hi.reshape(keep).to(x.dtype)
            clamp = True  # values may fall outside a moving-average range
        return viewed, lo, hi, keep, clamp

    @property
    def _uses_average(self) -> bool:
        """True when this call quantizes against the moving average (once it has a batch)."""
        return not self.training or self.training_range == "ema"

    def _update_ema(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        """Fold a batch range (no gradient) into the moving average, in place."""
        running_lo, running_hi = self.running_lo, self.running_hi
        lo = lo.reshape(running_lo.shape)
        hi = hi.reshape(running_hi.shape)
        if lo.dtype != running_lo.dtype:
            lo, hi = lo.to(running_lo.dtype), hi.to(running_hi.dtype)
        tracked = self.num_batches_tracked
        if int(tracked) == 0:
            running_lo.copy_(lo)
            running_hi.copy_(hi)
        else:
            running_lo.lerp_(lo, self.ema_momentum)
            running_hi.lerp_(hi, self.ema_momentum)
        tracked.add_(1)  # in place: `+=` would go through Module.__setattr__, 10× slower
