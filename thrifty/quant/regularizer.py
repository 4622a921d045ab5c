"""BitlengthRegularizer: λ · cost(bitlengths), the term added to the task loss (docs/design.md §3).

    reg = BitlengthRegularizer(model, criterion="bits", strength=0.05)
    loss = task_loss + reg()          # reg() is a scalar tensor, differentiable in the bits

The cost is one of `costs.COST_FUNCTIONS` ("bits", "memory", "bitops", "terms") or a callable
over the per-layer `LayerBits` records. After each call, `reg.cost` holds the cost value (a
float, in the criterion's unit: bits, bits² for bitops, terms per serial value for terms) and
`reg.strength` the current λ.

Criterion "terms" takes its options as `terms=TermsConfig(...)` (or a mapping of them): which
operand is serial, mean or expected lane maximum, lanes, encoding. Building the regularizer
switches term counting on in the serial operand's quantizers (`costs.set_term_counting`), so
the counts come from the forward pass of the same batch; `close()` switches it off again.

Target mode (`target=` a cost value in the same unit, e.g. 4.0 mean bits): λ is driven by a
proportional-integral controller on the relative error e = (cost − target) / target, so that the
cost settles at the target:

    integral ← clip(integral + controller_rate · e, −max_strength, max_strength)
    λ        ← clip(integral + controller_gain · e,  −max_strength, max_strength)

(`integral` starts at `strength`). The integral term is dual ascent on the constraint
cost = target: it grows while the cost is above the target and supplies the steady pull that
balances the task loss; the proportional term reacts at once when the cost crosses the target,
which damps the overshoot an optimizer with momentum would otherwise cause. λ may become
negative: below the target the penalty pushes bitlengths back up, so the target is reached from
either side. Each call returns the penalty with the current λ, then takes one controller step:
call it once per training step (for validation batches use `cost_tensor()`, which leaves λ).

Stall check: after `check_after` calls (default `CHECK_AFTER_STEPS` = 200) the regularizer
compares every learnable bitlength with its value at the first call; when none moved by
`STALL_BITS` (0.5 bit) or more while λ > 0 (and, in target mode, the cost is still above the
target), it warns once with `thrifty.BitlengthsNotLearningWarning`: the bitlengths' learning
rate is too small for the optimizer (typically plain SGD at the default bitlength rate).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from thrifty._config import parse_config
from thrifty.errors import BitlengthsNotLearningWarning, ConfigError
from thrifty.quant.config import TermsConfig
from thrifty.quant.costs import (
    COST_FUNCTIONS,
    LayerBits,
    layer_bits,
    set_term_counting,
    terms_cost,
)
from thrifty.quant.quantize import DEFAULT_BITS_LR, bit_parameters, quantized_layers

#: Default λ: a weak pull (about 0.05 loss units per mean bit) that a training step notices.
DEFAULT_STRENGTH = 0.05
#: Default integral step of λ per call, per unit of relative error (target mode).
DEFAULT_CONTROLLER_RATE = 0.002
#: Default proportional gain: λ offset per unit of relative error (target mode).
DEFAULT_CONTROLLER_GAIN = 5.0
#: Default upper bound of λ in target mode, so that a far target cannot make it explode.
DEFAULT_MAX_STRENGTH = 10.0
#: Calls (training steps) after which the regularizer checks once that the bitlengths moved.
CHECK_AFTER_STEPS = 200
#: A move below this many bits of every learnable bitlength counts as "barely moved".
STALL_BITS = 0.5


class BitlengthRegularizer:
    """Callable returning λ·cost of the model's bitlengths; optional target mode (see module).

    Attributes: `criterion` (name or callable), `strength` (current λ), `target` (None or the
    cost to reach), `cost` (float value of the last evaluated cost; None before the first call),
    `integral` (the controller's integral term), `controller_rate`, `controller_gain`,
    `max_strength`, `check_after` (calls before the stall check; None: no check), `terms`
    (the TermsConfig of criterion "terms", else None), `layers` (the quantized layers, found
    when the regularizer is built).
    """

    def __init__(
        self,
        model: nn.Module,
        criterion: str | Callable[[Sequence[LayerBits]], torch.Tensor] = "bits",
        strength: float = DEFAULT_STRENGTH,
        target: float | None = None,
        controller_rate: float = DEFAULT_CONTROLLER_RATE,
        controller_gain: float = DEFAULT_CONTROLLER_GAIN,
        max_strength: float = DEFAULT_MAX_STRENGTH,
        check_after: int | None = CHECK_AFTER_STEPS,
        terms: TermsConfig | Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(criterion, str) and criterion not in COST_FUNCTIONS:
            raise ConfigError(
                f"unknown regularizer criterion {criterion!r}; choose one of "
                f"{sorted(COST_FUNCTIONS)} or pass a callable over the per-layer records"
            )
        if not isinstance(criterion, str) and not callable(criterion):
            raise ConfigError(f"criterion must be a name or a callable, got {criterion!r}")
        if strength < 0:
            raise ConfigError(f"strength λ={strength} must be ≥ 0")
        if target is not None and target <= 0:
            raise ConfigError(f"target={target} must be positive (a cost in the criterion's unit)")
        if controller_rate <= 0 or controller_gain < 0 or max_strength < strength:
            raise ConfigError(
                f"controller_rate={controller_rate} must be > 0, controller_gain="
                f"{controller_gain} ≥ 0 and max_strength={max_strength} ≥ strength={strength}"
            )
        if check_after is not None and check_after < 1:
            raise ConfigError(
                f"check_after={check_after} must be a positive number of steps, or None to "
                "switch the stall check off"
            )
        if terms is not None and criterion != "terms":
            raise ConfigError(
                f"terms={terms!r} sets options of criterion 'terms', but the criterion is "
                f"{criterion!r}; pass criterion='terms' or drop the terms options"
            )
        if terms is not None and not isinstance(terms, TermsConfig):
            if not isinstance(terms, Mapping):
                raise ConfigError(
                    f"terms={terms!r} must be a TermsConfig or a mapping of its options "
                    "(serial, statistic, lanes, encoding)"
                )
            terms = parse_config(TermsConfig, terms, "terms criterion options")
        #: The quantized layers, looked up once (it raises if the model is not quantized):
        #: the cost of every call is over the layers quantized when the regularizer was built.
        self.layers = quantized_layers(model)
        self.terms: TermsConfig | None = None
        if criterion == "terms":
            self.terms = terms if terms is not None else TermsConfig()
            set_term_counting(model, self.terms)
        self.model = model
        self.criterion = criterion
        self.strength = float(strength)
        self.target = None if target is None else float(target)
        self.controller_rate = float(controller_rate)
        self.controller_gain = float(controller_gain)
        self.integral = float(strength)
        self.max_strength = float(max_strength)
        self.cost: float | None = None
        self.check_after = check_after
        self._calls = 0
        self._start: list[tuple[torch.Tensor, torch.Tensor]] = []

    def records(self) -> list[LayerBits]:
        """The per-layer records the cost is computed from."""
        return layer_bits(self.model, self.layers)

    def cost_tensor(self) -> torch.Tensor:
        """The unweighted cost (differentiable); updates `cost`, not λ."""
        if self.terms is not None:
            value = terms_cost(self.records(), self.terms)
        else:
            function = (
                COST_FUNCTIONS[self.criterion]
                if isinstance(self.criterion, str)
                else self.criterion
            )
            value = function(self.records())
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            raise ConfigError(f"criterion {self.criterion!r} must return a scalar tensor")
        self.cost = float(value.detach())
        return value.reshape(())

    def close(self) -> None:
        """Switch the quantizers' term counting off (criterion "terms"; else nothing to do)."""
        if self.terms is not None:
            set_term_counting(self.model, None)

    def __call__(self) -> torch.Tensor:
        """λ·cost with the current λ; then, in target mode, one controller step of λ."""
        cost = self.cost_tensor()
        penalty = self.strength * cost
        self._watch_bits()
        if self.target is not None:
            error = (self.cost - self.target) / self.target
            bound = self.max_strength
            self.integral = min(max(self.integral + self.controller_rate * error, -bound), bound)
            self.strength = min(max(self.integral + self.controller_gain * error, -bound), bound)
        return penalty

    def _watch_bits(self) -> None:
        """Remember the learnable bitlengths at the first call; warn once if, `check_after`
        calls later, none has moved by STALL_BITS while the regularizer pulls on them."""
        if self.check_after is None or self._calls > self.check_after:
            return
        self._calls += 1
        if self._calls == 1:
            learnable = [p for p in bit_parameters(self.model) if p.requires_grad]
            self._start = [(p, p.detach().clone()) for p in learnable]
            return
        if self._calls <= self.check_after or not self._start:
            return
        moved = max(float((p.detach() - start).abs().max()) for p, start in self._start)
        self._start = []
        pulled = self.strength > 0 and (self.target is None or self.cost > self.target)
        if moved < STALL_BITS and pulled:
            warnings.warn(
                f"the learnable bitlengths moved at most {moved:.3g} bits in {self.check_after} "
                f"steps with the regularizer attached (λ = {self.strength:g}, cost "
                f"{self.cost:.3g}): they are not learning. Raise their learning rate with "
                f"thrifty.param_groups(model, lr, bits_lr=...) (the default {DEFAULT_BITS_LR:g} "
                "suits Adam; plain SGD with momentum needs about 10× more, e.g. 0.3), or raise "
                "the strength λ; "
                "pass check_after=None to BitlengthRegularizer to switch this check off",
                BitlengthsNotLearningWarning,
                stacklevel=3,
            )

    def state_dict(self) -> dict[str, float | None]:
        """λ and the last cost, to resume a run in target mode."""
        return {"strength": self.strength, "integral": self.integral, "cost": self.cost}

    def load_state_dict(self, state: dict[str, float | None]) -> None:
        """Restore what `state_dict` returned."""
        self.strength = float(state["strength"])
        self.integral = float(state["integral"])
        self.cost = state["cost"]

    def __repr__(self) -> str:
        name = self.criterion if isinstance(self.criterion, str) else repr(self.criterion)
        return (
            f"BitlengthRegularizer(criterion={name}, strength={self.strength:.4g}, "
            f"target={self.target}, cost={self.cost})"
        )
