"""`thrifty simulate --inference RUN`: a finished tiny run's frozen model, and the named errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.train._runs import TINY, write_config
from thrifty.cli import app
from thrifty.errors import CheckpointError, ConfigError, DataError, SimulationError

RUNNER = CliRunner()
SMALL = {"tile": {"rows": 4, "cols": 4, "tiles": 2}}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run (digits, small CNN, one epoch per phase), trained through the CLI."""
    root = tmp_path_factory.mktemp("inference_run")
    config = {**TINY, "phases": {"float": {"epochs": 1}, "learn": {"epochs": 1},
                                 "finetune": {"epochs": 1}}}  # fmt: skip
    path = write_config(root / "c.yaml", config)
    result = RUNNER.invoke(app, ["train", str(path), "--out", str(root / "run")])
    assert result.exit_code == 0, result.output
    return root / "run"


def test_inference_of_a_run_writes_tables_and_json(run: Path, tmp_path: Path) -> None:
    arch = write_config(tmp_path / "arch.yaml", SMALL)
    out = tmp_path / "out"
    args = ["simulate", "--inference", str(run), "--images", "3", "--seed", "2", "--arch",
            str(arch), "--out", str(out), "--set", "inference.skip_zero_weights=true"]  # fmt: skip
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "integer inference of 3 images" in result.output
    assert "per inference: cycles and energy" in result.output
    data = json.loads((out / "inference.json").read_text())
    assert data["images"] == 3 and data["provenance"]["seed"] == 2
    assert data["source"] == str(run)
    assert data["config"]["tile"]["rows"] == 4 and data["config"]["inference"]["skip_zero_weights"]
    summary = json.loads((run / "summary.json").read_text())
    learned = data["learned"]["layers"]
    assert [r["layer"] for r in learned] == [r["name"] for r in summary["layers"]]
    for record, layer in zip(learned, summary["layers"], strict=True):
        # Per-tensor bitlengths: the simulated codes carry the run's frozen bitlengths.
        assert record["activation_bits"] == layer["activation_bits"]
        assert record["weight_bits"] == layer["weight_bits"]
    for record in data["uniform"]["layers"]:
        assert record["activation_bits"] == record["weight_bits"] == 8
    assert data["learned"]["integer_check"]["top1_agreement"] == 1.0


def test_default_output_folder_is_inside_the_run(run: Path) -> None:
    result = RUNNER.invoke(app, ["simulate", "--inference", str(run), "--images", "1"])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "inference" / "inference.json").read_text())["images"] == 1
    # `thrifty report RUN` shows the inference tables of the default output folder.
    result = RUNNER.invoke(app, ["report", str(run), "--out", str(run.parent)])
    assert result.exit_code == 0, result.output
    assert "integer inference of 1 image" in result.output


def test_named_errors(run: Path, tmp_path: Path) -> None:
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(run / "config.yaml", unfinished / "config.yaml")
    result = RUNNER.invoke(app, ["simulate", "--inference", str(unfinished)])
    assert isinstance(result.exception, CheckpointError)
    assert "has no frozen model: model.pt is missing" in str(result.exception)

    result = RUNNER.invoke(app, ["simulate", "--inference", str(tmp_path / "nowhere")])
    assert isinstance(result.exception, CheckpointError)
    assert "is not a run folder" in str(result.exception)

    result = RUNNER.invoke(app, ["simulate", "--inference", str(run), "--images", "0"])
    assert isinstance(result.exception, DataError)
    assert "0 test images requested" in str(result.exception)

    result = RUNNER.invoke(app, ["simulate", str(tmp_path), "--inference", str(run)])
    assert isinstance(result.exception, ConfigError) and "not both" in str(result.exception)
    result = RUNNER.invoke(app, ["simulate", "--inference", str(run), "--sample", "0.5"])
    assert isinstance(result.exception, ConfigError)
    assert "['--sample'] apply to a trace folder" in str(result.exception)
    result = RUNNER.invoke(app, ["simulate"])
    assert isinstance(result.exception, ConfigError)
    assert "nothing to simulate" in str(result.exception)


def test_a_run_with_floating_point_quantizers_is_refused(run: Path, tmp_path: Path) -> None:
    # The run's own state, described by a config whose activations use float_mantissa: the
    # state dict has the same keys, so the model loads and the integer check must refuse it.
    copy = tmp_path / "mantissa"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("inference"))
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["quant"]["activation"] = {"kind": "float_mantissa"}
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    result = RUNNER.invoke(app, ["simulate", "--inference", str(copy), "--images", "1"])
    assert isinstance(result.exception, SimulationError)
    assert "the activation quantizer is kind 'float_mantissa'" in str(result.exception)
