"""What `thrifty export` exports: a `thrifty train` run folder, or a checkpoint written by
`thrifty.save`, rebuilt into the quantized model it holds.

- A run folder holds `config.yaml` (model name, quantization config, seed), `summary.json`
  (the data's shape and classes) and `model.pt` (the final state dict): the model is built
  from the registry, quantized, frozen when the run fine-tuned with frozen bitlengths, and
  loaded.
- A `thrifty.save` checkpoint holds the quantized state but not the architecture: the caller
  names a registered model and its input shape.

The example input that the ONNX exporters trace is a batch of zeros of the data's shape (any
values trace the same graph: thrifty's export graphs have no data-dependent branches).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from thrifty.errors import CheckpointError
from thrifty.models import build_model
from thrifty.quant import freeze, load, quantize
from thrifty.train.config import load_train_config

RUN_FILES = ("config.yaml", "summary.json", "model.pt")


@dataclass(frozen=True)
class ExportSource:
    """A rebuilt quantized model, the shape of one input sample, and its provenance."""

    model: nn.Module
    sample_shape: tuple[int, ...]
    provenance: dict[str, Any] = field(default_factory=dict)

    def example(self, batch: int = 1) -> torch.Tensor:
        """A batch of zeros of the model's input shape."""
        return torch.zeros((batch, *self.sample_shape))


def load_run_model(folder: str | Path) -> ExportSource:
    """The final quantized model of a finished `thrifty train` run folder."""
    folder = Path(folder)
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(
            f"{str(folder)!r} is not a finished run folder: {', '.join(missing)} missing; pass "
            "the folder `thrifty train` wrote (its --out) after the run has ended"
        )
    config = load_train_config(folder / "config.yaml")
    data = json.loads((folder / "summary.json").read_text())["data"]
    shape = tuple(int(s) for s in data["shape"])
    model = build_model(config.model.name, data["num_classes"], shape[0], shape[-1])
    quantize(model, config.quant)
    if config.phases.finetune.epochs > 0:
        freeze(model)
    state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"run folder {str(folder)!r}: model.pt does not match model "
            f"{config.model.name!r} quantized by its config: {error}"
        ) from None
    provenance = {"run_config": config.model_dump(mode="json"), "seed": config.seed}
    return ExportSource(model.eval(), shape, provenance)


def load_checkpoint_model(
    path: str | Path, model_name: str, num_classes: int, sample_shape: tuple[int, int, int]
) -> ExportSource:
    """A `thrifty.save` checkpoint of the registered model `model_name` for inputs of
    `sample_shape` (channels, height, width)."""
    channels, _, size = sample_shape
    model = load(build_model(model_name, num_classes, channels, size), path)
    return ExportSource(model.eval(), tuple(sample_shape), {"checkpoint": str(path)})


__all__ = ["ExportSource", "load_checkpoint_model", "load_run_model"]
