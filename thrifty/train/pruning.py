"""Gradual magnitude pruning during training, built on `torch.nn.utils.prune`.

What it models
--------------
The schedule of Zhu & Gupta, "To prune, or not to prune" (2017, arXiv:1710.01878): starting
at step t0, every Δt steps, the smallest-magnitude weights are masked so that the fraction of
zero weights follows

    s_t = s_f + (s_i − s_f) · (1 − (t − t0) / (n·Δt))^3        for t0 ≤ t ≤ t0 + n·Δt,

with s_i the initial and s_f the final (target) sparsity; n·Δt = `end_step − begin_step`.
The cubic prunes fast while many redundant weights remain and slowly near the target, so the
network has time to recover. Before t0 nothing is pruned; after t0 + n·Δt the sparsity stays
at s_f. Pruning happens at t0, t0 + Δt, t0 + 2Δt, … and always at `end_step` itself, so the
target is reached exactly there even when n·Δt is not a multiple of Δt.

Which weights
-------------
The weights of every `nn.Conv1d`, `nn.Conv2d` and `nn.Linear` in the model, including
thrifty's quantized modules (subclasses of these, found with `isinstance`). `scope="layer"`
prunes each layer to s_t (torch's `l1_unstructured`); `scope="global"` ranks the weights of all
layers together (torch's `global_unstructured`) so s_t holds over the whole model and layers
end at different sparsities. A weight once pruned stays pruned: the mask multiplies the weight
in every forward (torch's re-parametrisation `weight = weight_orig * weight_mask`), so its
gradient is masked too and optimizer steps cannot bring it back. The number of weights pruned
is `round(s_t · count)`, so the reached sparsity is exact.

Activation sparsity (optional)
------------------------------
With `activation_sparsity = a_f > 0`, a forward pre-hook on each pruned layer zeroes, per
example, the `round(a_t · count)` smallest-magnitude values of the layer's input, with a_t
following the same cubic from 0 to a_f. Gradients flow only through the kept values (the
hook multiplies by a constant mask). The hook stays on the model after `make_permanent`, so
the captured training operands are sparse as they were during training; remove it with
`MagnitudePruner.remove_activation_hooks()`. The model's own input (the first pruned layer's)
is left dense unless `sparsify_model_input` is set.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, ValidationError, model_validator
from torch import nn
from torch.nn.utils import prune

from thrifty._config import FrozenConfig, format_validation_error
from thrifty.errors import CheckpointError, ConfigError

PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Linear)
"""Module types whose `weight` is pruned (subclasses included, e.g. quantized modules)."""

PRUNING_STATE_VERSION = 1
"""Format version of `MagnitudePruner.state_dict()`."""


class PruningConfig(FrozenConfig):
    """Gradual magnitude pruning: target sparsity, schedule steps, scope, activation sparsity."""

    schema_version: Literal[1] = Field(default=1, description="Version of this config's schema.")
    target_sparsity: float = Field(
        default=0.5,
        ge=0.0,
        lt=1.0,
        description="s_f: fraction of weights that are zero at and after end_step (unitless).",
    )
    initial_sparsity: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="s_i: fraction of weights pruned at begin_step (unitless).",
    )
    begin_step: int = Field(default=0, ge=0, description="t0: first pruning step (steps).")
    end_step: int = Field(
        default=1000, ge=0, description="t0 + n·Δt: step at which s_f is reached (steps)."
    )
    frequency: int = Field(default=100, ge=1, description="Δt: steps between pruning (steps).")
    scope: Literal["layer", "global"] = Field(
        default="layer",
        description="'layer': every layer reaches s_t; 'global': s_t over all weights together.",
    )
    activation_sparsity: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="a_f: fraction of each pruned layer's input zeroed per example (unitless); "
        "0 disables activation pruning.",
    )
    sparsify_model_input: bool = Field(
        default=False,
        description="Also sparsify the input of the first pruned layer (the model's input).",
    )

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise ConfigError(format_validation_error(error, "PruningConfig")) from None

    @model_validator(mode="after")
    def _check_schedule(self) -> PruningConfig:
        if self.initial_sparsity > self.target_sparsity:
            raise ValueError(
                f"initial_sparsity {self.initial_sparsity} exceeds target_sparsity "
                f"{self.target_sparsity}; the schedule only increases sparsity, so set "
                "initial_sparsity ≤ target_sparsity"
            )
        if self.end_step <= self.begin_step:
            raise ValueError(
                f"end_step {self.end_step} must be after begin_step {self.begin_step}; "
                "give the schedule at least one step"
            )
        return self


def scheduled_sparsity(step: int, config: PruningConfig) -> float:
    """s_t of the cubic schedule at `step` (0 before begin_step, s_f after end_step)."""
    return _cubic(step, config.initial_sparsity, config.target_sparsity, config)


def scheduled_activation_sparsity(step: int, config: PruningConfig) -> float:
    """a_t: the same cubic from 0 to `activation_sparsity` (0 before begin_step)."""
    return _cubic(step, 0.0, config.activation_sparsity, config)


def _cubic(step: int, initial: float, final: float, config: PruningConfig) -> float:
    if step < config.begin_step:
        return 0.0
    span = config.end_step - config.begin_step
    progress = min(step - config.begin_step, span) / span
    return final + (initial - final) * (1.0 - progress) ** 3


def is_pruning_step(step: int, config: PruningConfig) -> bool:
    """Whether masks are updated at `step`: t0, t0 + Δt, … up to end_step, and end_step."""
    if step < config.begin_step or step > config.end_step:
        return False
    return (step - config.begin_step) % config.frequency == 0 or step == config.end_step


def prunable_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every Conv1d/Conv2d/Linear (or subclass) in `model`, in order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, PRUNABLE_TYPES)]


def _mask_of(module: nn.Module) -> torch.Tensor | None:
    return getattr(module, "weight_mask", None)


def _weight_of(module: nn.Module) -> torch.Tensor:
    """The effective (masked) weight, current even between an optimizer step and a forward."""
    mask = _mask_of(module)
    if mask is None:
        return module.weight.detach()
    return (module.weight_orig * mask).detach()


def _pruned_count(module: nn.Module) -> int:
    mask = _mask_of(module)
    return 0 if mask is None else int((mask == 0).sum())


class _ActivationSparsifier:
    """Forward pre-hook: zero the `fraction` smallest-magnitude input values of each example."""

    def __init__(self) -> None:
        self.fraction = 0.0

    def __call__(self, module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> Any:
        if self.fraction <= 0.0:
            return None
        (x, *rest) = inputs
        flat = x.reshape(x.shape[0], -1)
        drop = round(self.fraction * flat.shape[1])
        if drop == 0:
            return None
        with torch.no_grad():
            # Indices of the `drop` smallest |x| of each example: exact count, ties by index.
            smallest = flat.abs().topk(drop, dim=1, largest=False).indices
            mask = torch.ones_like(flat).scatter_(1, smallest, 0.0)
        return (x * mask.reshape(x.shape), *rest)


class MagnitudePruner:
    """Applies the gradual magnitude schedule of `config` to `model` as training steps.

    Call `step(global_step)` once per training step, after `optimizer.step()`; it updates the
    masks on pruning steps. Call `make_permanent(model)` when training ends.
    """

    def __init__(self, model: nn.Module, config: PruningConfig) -> None:
        self.model = model
        self.config = config
        self.targets = prunable_modules(model)
        if not self.targets:
            raise ConfigError(
                f"{type(model).__name__} has no Conv1d, Conv2d or Linear layer to prune; "
                "pass a model that contains at least one"
            )
        self.last_step: int | None = None
        self._sparsifiers: dict[str, _ActivationSparsifier] = {}
        self._handles: list[Any] = []
        if config.activation_sparsity > 0.0:
            self._attach_activation_hooks()

    def _attach_activation_hooks(self) -> None:
        first = self.targets[0][0]
        for name, module in self.targets:
            if name == first and not self.config.sparsify_model_input:
                continue
            hook = _ActivationSparsifier()
            self._sparsifiers[name] = hook
            self._handles.append(module.register_forward_pre_hook(hook))

    def remove_activation_hooks(self) -> None:
        """Detach the activation-sparsity hooks (the model's inputs become dense again)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._sparsifiers.clear()

    def step(self, step: int) -> float | None:
        """Advance to training step `step`; on a pruning step, prune to s_t and return s_t."""
        self.last_step = step
        fraction = scheduled_activation_sparsity(step, self.config)
        for hook in self._sparsifiers.values():
            hook.fraction = fraction
        if not is_pruning_step(step, self.config):
            return None
        sparsity = scheduled_sparsity(step, self.config)
        if self.config.scope == "global":
            self._prune_global(sparsity)
        else:
            self._prune_layers(sparsity)
        return sparsity

    def _prune_layers(self, sparsity: float) -> None:
        for _, module in self.targets:
            extra = round(sparsity * module.weight.numel()) - _pruned_count(module)
            if extra > 0:
                # With a mask already present torch prunes `extra` of the remaining weights.
                # Rank by the current masked weight (torch's default, the `weight` attribute,
                # is only refreshed by the next forward).
                prune.l1_unstructured(
                    module, "weight", amount=extra, importance_scores=_weight_of(module)
                )
            elif _mask_of(module) is None:
                prune.identity(module, "weight")

    def _prune_global(self, sparsity: float) -> None:
        total = sum(module.weight.numel() for _, module in self.targets)
        pruned = sum(_pruned_count(module) for _, module in self.targets)
        extra = round(sparsity * total) - pruned
        if extra > 0:
            params = [(module, "weight") for _, module in self.targets]
            scores = {(module, "weight"): _weight_of(module) for _, module in self.targets}
            prune.global_unstructured(
                params,
                pruning_method=prune.L1Unstructured,
                importance_scores=scores,
                amount=extra,
            )
        else:
            for _, module in self.targets:
                if _mask_of(module) is None:
                    prune.identity(module, "weight")

    def layer_sparsity(self) -> dict[str, float]:
        """Fraction of zero weights in each pruned layer (measured on the masked weights)."""
        return {
            name: int((_weight_of(m) == 0).sum()) / m.weight.numel() for name, m in self.targets
        }

    def global_sparsity(self) -> float:
        """Fraction of zero weights over all pruned layers together."""
        zeros = sum(int((_weight_of(m) == 0).sum()) for _, m in self.targets)
        return zeros / sum(m.weight.numel() for _, m in self.targets)

    def state_dict(self) -> dict[str, Any]:
        """Config, last step and masks: enough to re-create the pruning on a fresh model."""
        masks = {name: m.weight_mask.clone() for name, m in self.targets if _mask_of(m) is not None}
        return {
            "version": PRUNING_STATE_VERSION,
            "config": self.config.model_dump(mode="json"),
            "last_step": self.last_step,
            "masks": masks,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Re-apply saved masks to this (unpruned) model; then load the model's state dict.

        The model state of a pruned model holds `weight_orig`/`weight_mask`, so the masks must
        be in place before `model.load_state_dict` is called.
        """
        if state.get("version") != PRUNING_STATE_VERSION:
            raise CheckpointError(
                f"pruning state version {state.get('version')!r} is not supported; "
                f"expected {PRUNING_STATE_VERSION}: save it again with this thrifty"
            )
        saved = PruningConfig(**state["config"])
        if saved != self.config:
            raise CheckpointError(
                f"pruning state was saved with {saved!r} but this pruner has {self.config!r}; "
                "build the pruner with the saved config"
            )
        names = {name for name, _ in self.targets}
        unknown = sorted(set(state["masks"]) - names)
        if unknown:
            raise CheckpointError(
                f"pruning state has masks for layers {unknown} that this model lacks; "
                "load it into the model it was saved from"
            )
        for name, module in self.targets:
            if name in state["masks"]:
                if _mask_of(module) is not None:
                    prune.remove(module, "weight")
                prune.custom_from_mask(module, "weight", mask=state["masks"][name])
        if state["last_step"] is not None:
            self.last_step = state["last_step"]
            fraction = scheduled_activation_sparsity(self.last_step, self.config)
            for hook in self._sparsifiers.values():
                hook.fraction = fraction


def make_permanent(model: nn.Module) -> int:
    """Fold every pruning mask into its weight (`prune.remove`); return how many were folded.

    Afterwards the model is a plain model again (state-dict keys `weight`), whose pruned
    weights are exact zeros.
    """
    folded = 0
    for _, module in prunable_modules(model):
        if prune.is_pruned(module) and _mask_of(module) is not None:
            prune.remove(module, "weight")
            folded += 1
    return folded


__all__ = [
    "PRUNABLE_TYPES",
    "MagnitudePruner",
    "PruningConfig",
    "is_pruning_step",
    "make_permanent",
    "prunable_modules",
    "scheduled_activation_sparsity",
    "scheduled_sparsity",
]
