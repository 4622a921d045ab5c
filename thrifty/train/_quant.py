"""The training recipe's use of the quantization library, in one place.

The recipe needs: validate a QuantConfig, quantize a model, build the regularizer and the
optimizer groups, freeze, and summarise. Keeping these calls here keeps the recipe readable.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from thrifty.train.config import RegularizerConfig


def quant_config(data: dict[str, Any]) -> Any:
    """Validate the `quant:` section into a thrifty.QuantConfig (ConfigError naming the key)."""
    from thrifty import QuantConfig
    from thrifty._config import parse_config

    return parse_config(QuantConfig, data, "config section 'quant'")


def quantize_model(model: nn.Module, config: Any) -> nn.Module:
    """Swap the model's layers for quantized ones in place (thrifty.quantize)."""
    from thrifty import quantize

    return quantize(model, config)


def make_regularizer(model: nn.Module, config: RegularizerConfig) -> Any:
    """A thrifty.BitlengthRegularizer over the model's bitlengths."""
    from thrifty import BitlengthRegularizer

    return BitlengthRegularizer(
        model, criterion=config.criterion, strength=config.strength, target=config.target
    )


def optimizer_groups(
    model: nn.Module, lr: float, bits_lr: float | None, weight_decay: float, quantized: bool
) -> list[dict[str, Any]]:
    """Parameter groups: the bitlengths apart (own lr, no decay) once the model is quantized."""
    if not quantized:
        params = [p for p in model.parameters() if p.requires_grad]
        return [{"params": params, "lr": lr, "weight_decay": weight_decay}]
    from thrifty import param_groups

    groups = param_groups(model, lr, bits_lr=bits_lr, weight_decay=weight_decay)
    kept = []
    for group in groups:
        params = [p for p in group["params"] if p.requires_grad]
        if params:
            kept.append({**group, "params": params})
    return kept


def freeze_model(model: nn.Module) -> None:
    """Round every bitlength up to an integer and stop it learning (thrifty.freeze)."""
    from thrifty import freeze

    freeze(model)


def model_summary(model: nn.Module) -> dict[str, Any]:
    """thrifty.summary(model) as a dict: per-layer records under 'layers' plus the means."""
    from thrifty import summary

    data = dict(summary(model).to_dict())
    # thrifty.summary names the per-layer records "records"; run folders call them "layers".
    if "layers" not in data:
        data["layers"] = data.pop("records", [])
    return data


def regularizer_values(regularizer: Any) -> tuple[float | None, float | None]:
    """(λ, cost) the regularizer currently holds, as floats."""
    if regularizer is None:
        return None, None
    strength = getattr(regularizer, "strength", None)
    cost = getattr(regularizer, "cost", None)
    if callable(cost):
        cost = cost()
    return _as_float(strength), _as_float(cost)


def regularizer_state(regularizer: Any) -> dict[str, Any]:
    """The regularizer's mutable state (λ and controller state in target mode)."""
    if regularizer is None:
        return {}
    if hasattr(regularizer, "state_dict"):
        return dict(regularizer.state_dict())
    return {}


def load_regularizer_state(regularizer: Any, state: dict[str, Any]) -> None:
    """Restore what `regularizer_state` returned."""
    if regularizer is not None and state and hasattr(regularizer, "load_state_dict"):
        regularizer.load_state_dict(state)


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().item())
    return float(value)
