"""A finished run's final model rebuilt from its folder: config.yaml, model.pt and the data set.

`load_run_model(run)` reads the run's resolved config, loads its data set (for the model's input
shape and classes, and for test images), builds the registered model, quantizes it with the
run's QuantConfig and loads `model.pt` exactly. A run of the two-phase recipe ends frozen, so
its bitlengths are integers; a float-only run (no quantized layer in `model.pt`) is refused.
Layers trained with `quant.fold_batchnorm` come back folded (`thrifty.quant.folding.
fold_fused_layers`: plain quantized convolutions with the folded weight and bias, the same
evaluation output bit for bit), the form inference and export read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from thrifty.data.loading import load_data
from thrifty.data.splits import DataSplits
from thrifty.errors import CheckpointError, DataError
from thrifty.models import build_model
from thrifty.quant.folding import fold_fused_layers
from thrifty.quant.quantize import quantize
from thrifty.train.config import TrainConfig, load_train_config
from thrifty.train.recipe import CONFIG_FILE, MODEL_FILE

#: Test images drawn by default for an inference simulation (`draw_test_images`).
DEFAULT_TEST_IMAGES = 8


@dataclass(frozen=True)
class RunModel:
    """A run's final model (quantized, on the CPU, evaluation mode), its config and its data."""

    model: nn.Module
    config: TrainConfig
    data: DataSplits


def load_run_model(run: str | Path) -> RunModel:
    """Rebuild the final model of the `thrifty train` run folder `run`.

    Raises CheckpointError for a folder without config.yaml or model.pt (not a finished run),
    for a model.pt without quantized layers (a float-only run), or one that does not match the
    model the config describes.
    """
    run = Path(run)
    config_path, model_path = run / CONFIG_FILE, run / MODEL_FILE
    if not config_path.is_file():
        raise CheckpointError(
            f"{str(run)!r} is not a run folder: it has no {CONFIG_FILE}; pass the folder "
            "`thrifty train` wrote (its --out)"
        )
    if not model_path.is_file():
        raise CheckpointError(
            f"run {str(run)!r} has no frozen model: {MODEL_FILE} is missing (the run has not "
            "finished its fine-tuning phase); finish it with `thrifty train CONFIG --resume "
            f"--out {run}`"
        )
    config = load_train_config(config_path)
    try:
        state = torch.load(model_path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        raise CheckpointError(f"{str(model_path)!r} cannot be read: {error}") from None
    if not any(key.endswith("weight_quantizer.bitlength") for key in state):
        raise CheckpointError(
            f"run {str(run)!r} holds a float model ({MODEL_FILE} has no quantized layer): "
            "integer inference needs a run whose learn and fine-tune phases quantized and froze "
            "the bitlengths"
        )
    data = load_data(config.data)
    model = build_model(
        config.model.name,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        image_size=data.image_size,
    )
    quantize(model, config.quant)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"{str(model_path)!r} does not match model {config.model.name!r} of the run's "
            f"config: {error}"
        ) from None
    fold_fused_layers(model)  # a run quantized with fold_batchnorm: its deployment form
    for param in model.parameters():
        param.requires_grad_(False)
    return RunModel(model.eval(), config, data)


def draw_test_images(
    data: DataSplits, count: int = DEFAULT_TEST_IMAGES, seed: int = 0
) -> torch.Tensor:
    """`count` images of the test split drawn without replacement by `seed`, in split order."""
    available = len(data.test)
    if not 1 <= count <= available:
        raise DataError(
            f"{count} test images requested; the test split of {data.name!r} holds {available}: "
            f"choose between 1 and {available}"
        )
    chosen = np.sort(np.random.default_rng(seed).choice(available, size=count, replace=False))
    return data.test.images[torch.from_numpy(chosen)]


__all__ = ["DEFAULT_TEST_IMAGES", "RunModel", "draw_test_images", "load_run_model"]
