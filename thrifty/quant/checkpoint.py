"""`save` / `load`: a self-describing checkpoint of a quantized model.

The file (written atomically with `torch.save`, read back with `weights_only=True`) holds the
format name and version, the QuantConfig as JSON, the names of frozen quantizers, a summary, and
the model's full `state_dict` (weights, bitlengths, activation-range moving averages).
`load(float_model, path)` quantizes the user's float model with the stored config, loads the
state exactly and re-freezes what was frozen.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from thrifty._io import atomic_path
from thrifty.errors import CheckpointError
from thrifty.quant.config import QuantConfig
from thrifty.quant.quantize import quantization_info, quantize, quantized_layers
from thrifty.quant.summary import summary

FORMAT = "thrifty.quantized_model"
FORMAT_VERSION = 1


def save(model: nn.Module, path: str | Path) -> Path:
    """Write `model` (quantized by thrifty.quantize) to `path`; returns the path."""
    path = Path(path)
    info = quantization_info(model)
    frozen = [
        f"{name}.{role}"
        for name, layer in quantized_layers(model)
        for role in layer.quantizer_roles
        if getattr(layer, role).frozen
    ]
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config_json": json.dumps(info.config.model_dump(mode="json")),
        "frozen": frozen,
        "summary_json": json.dumps(summary(model).to_dict()),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load(float_model: nn.Module, path: str | Path) -> nn.Module:
    """Quantize `float_model` as the checkpoint says and load its state; returns the model."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unpickling failure means a bad file
        raise CheckpointError(f"checkpoint {str(path)!r} cannot be read: {error}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(path)!r} is not a thrifty quantized-model checkpoint (written by thrifty.save)"
        )
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {payload.get('format_version')!r}; "
            f"this thrifty reads version {FORMAT_VERSION}"
        )
    config = QuantConfig.model_validate(json.loads(payload["config_json"]))
    model = quantize(float_model, config)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not match the model {type(model).__name__}: {error}"
        ) from None
    frozen = set(payload["frozen"])
    for name, layer in quantized_layers(model):
        for role in layer.quantizer_roles:
            if f"{name}.{role}" in frozen:
                getattr(layer, role).bitlength.requires_grad_(False)
    return model
