"""What `thrifty export` exports: a `thrifty train` run folder, or a checkpoint written by
`thrifty.save`, rebuilt into the quantized model it holds.

- A run folder is rebuilt by `thrifty.train.run_model.load_run_model` (its config, data set
  and final `model.pt`); the data set gives the input shape.
- A `thrifty.save` checkpoint holds the quantized state but not the architecture: the caller
  names a registered model and its input shape.

The example input that the ONNX exporters trace is a batch of zeros of the data's shape (any
values trace the same graph: thrifty's export graphs have no data-dependent branches).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from thrifty.models import build_model
from thrifty.quant import load
from thrifty.train.run_model import load_run_model


@dataclass(frozen=True)
class ExportSource:
    """A rebuilt quantized model, the shape of one input sample, and its provenance."""

    model: nn.Module
    sample_shape: tuple[int, ...]
    provenance: dict[str, Any] = field(default_factory=dict)

    def example(self, batch: int = 1) -> torch.Tensor:
        """A batch of zeros of the model's input shape."""
        return torch.zeros((batch, *self.sample_shape))


def run_source(folder: str | Path) -> ExportSource:
    """The final quantized model of a finished `thrifty train` run folder."""
    run = load_run_model(folder)
    shape = (run.data.in_channels, run.data.image_size, run.data.image_size)
    provenance = {"run_config": run.config.model_dump(mode="json"), "seed": run.config.seed}
    return ExportSource(run.model, shape, provenance)


def checkpoint_source(
    path: str | Path, model_name: str, num_classes: int, sample_shape: tuple[int, int, int]
) -> ExportSource:
    """A `thrifty.save` checkpoint of the registered model `model_name` for inputs of
    `sample_shape` (channels, height, width)."""
    channels, _, size = sample_shape
    model = load(build_model(model_name, num_classes, channels, size), path)
    return ExportSource(model.eval(), tuple(sample_shape), {"checkpoint": str(path)})


__all__ = ["ExportSource", "checkpoint_source", "run_source"]
