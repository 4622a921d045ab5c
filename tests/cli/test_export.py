"""`thrifty export`: a run folder and a thrifty.save checkpoint, to each format."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")
pytest.importorskip("qonnx")

import onnxruntime

import thrifty
from thrifty.cli import app
from thrifty.errors import CheckpointError, ConfigError
from thrifty.export import load_packed
from thrifty.export.source import run_source
from thrifty.models import build_model
from thrifty.train.config import TrainConfig
from thrifty.train.recipe import train

#: A run of about a second: digits (8×8), the small CNN, every phase, frozen at the end.
TINY = {
    "seed": 1,
    "device": "cpu",
    "data": {"name": "digits", "train_subset": 256, "test_subset": 100, "batch_size": 32},
    "optimizer": {"name": "adam", "lr": 0.003, "bits_lr": 0.5},
    "regularizer": {"criterion": "bits", "strength": 0.5},
    "quant": {"weight": {"max_bits": 8}},
    "phases": {"float": {"epochs": 1}, "learn": {"epochs": 1}, "finetune": {"epochs": 1}},
}


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    train(TrainConfig.model_validate({**TINY, "out": str(folder)}))
    return folder


def _export(*args: str):
    return CliRunner().invoke(app, ["export", *map(str, args)])


def test_a_run_folder_exports_to_every_format(run_folder, tmp_path):
    source = run_source(run_folder)
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        reference = source.model(x).numpy()
    result = _export(run_folder, "--format", "packed", "--out", tmp_path / "m.packed")
    assert result.exit_code == 0, result.output
    assert " of packed codes (" in result.output and "mean weight bits" in result.output
    loaded = load_packed(build_model("small_cnn", 10, 1, 8), tmp_path / "m.packed")
    with torch.no_grad():
        np.testing.assert_array_equal(loaded(x).numpy(), reference)
    result = _export(run_folder, "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert result.exit_code == 0, result.output
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    out = session.run(None, {"input": x.numpy()})[0]
    assert out.shape == reference.shape
    result = _export(run_folder, "--format", "qonnx", "--out", tmp_path / "m.qonnx", "--batch", 5)
    assert result.exit_code == 0, result.output
    assert "input shape (5, 1, 8, 8)" in result.output


def test_a_checkpoint_needs_its_model_named(run_folder, tmp_path):
    source = run_source(run_folder)
    path = thrifty.save(source.model, tmp_path / "q.pt")
    result = _export(path, "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert isinstance(result.exception, ConfigError)
    assert "name the registered model with --model" in str(result.exception)
    args = ["--model", "small_cnn", "--image-size", "8", "--format", "onnx"]
    result = _export(path, *args, "--out", tmp_path / "m.onnx")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.onnx").stat().st_size > 0
    result = _export(tmp_path / "missing.pt", "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert isinstance(result.exception, CheckpointError)
    assert "'" + str(tmp_path / "missing.pt") + "' does not exist" in str(result.exception)
