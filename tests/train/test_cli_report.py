"""`thrifty train` and `thrifty report` through the command line, and the report helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.train._runs import TINY, write_config
from thrifty.cli import app
from thrifty.errors import CheckpointError
from thrifty.report import layer_table, load_run, report_runs

RUNNER = CliRunner()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two finished tiny runs (all phases), trained through the CLI."""
    root = tmp_path_factory.mktemp("runs")
    config = write_config(root / "c.yaml", TINY)
    runs = []
    for strength in ("0.1", "0.5"):
        run = root / f"run{strength}"
        result = RUNNER.invoke(
            app,
            ["train", str(config), "--out", str(run), "--set", f"regularizer.strength={strength}"],
        )
        assert result.exit_code == 0, result.output
        runs.append(run)
    return runs


def test_train_writes_summary_with_learned_bits(two_runs: list[Path]) -> None:
    summary = json.loads((two_runs[0] / "summary.json").read_text())
    records = [json.loads(x) for x in (two_runs[0] / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in records] == ["float"] * 2 + ["learn"] * 2 + ["finetune"]
    assert all(
        r["mean_bits"] is not None and r["lambda"] is not None
        for r in records
        if r["phase"] == "learn"
    )
    assert summary["layers"] and summary["mean_bits"] < 8.0
    # After freeze every bitlength is an integer.
    for layer in summary["layers"]:
        assert float(layer["weight_bits"]).is_integer()
    bitlengths = json.loads((two_runs[0] / "bitlengths.json").read_text())
    assert bitlengths["layers"] == summary["layers"]


def test_resuming_a_finished_run_changes_nothing(two_runs: list[Path]) -> None:
    before = json.loads((two_runs[0] / "summary.json").read_text())
    config = two_runs[0].parent / "c.yaml"
    args = [
        "train",
        str(config),
        "--out",
        str(two_runs[0]),
        "--resume",
        "--set",
        "regularizer.strength=0.1",
    ]
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output
    after = json.loads((two_runs[0] / "summary.json").read_text())
    assert after["final_accuracy"] == before["final_accuracy"]
    assert after["layers"] == before["layers"]


def test_report_prints_table_and_writes_plots(two_runs: list[Path], tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["report", *map(str, two_runs), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "conv1" in result.output and "mean_bits" in result.output
    for run in two_runs:
        for name in ("layer_bits.png", "training.png"):
            assert (run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "accuracy_vs_bits.png").read_bytes()[:4] == b"\x89PNG"
    table = layer_table(load_run(two_runs[0]).summary)
    assert table.row_count == len(load_run(two_runs[0]).summary["layers"])


def test_report_of_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no summary.json"):
        report_runs([tmp_path])


def test_bad_config_is_a_one_line_error(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", {"phases": {"lern": {"epochs": 1}}})
    result = RUNNER.invoke(app, ["train", str(config), "--out", str(tmp_path / "r")])
    assert result.exit_code != 0
    assert "unknown key 'phases.lern'" in str(result.exception)
    config = write_config(tmp_path / "q.yaml", {"quant": {"weight": {"bits": 4}}})
    result = RUNNER.invoke(
        app, ["train", str(config), "--out", str(tmp_path / "q"), "--nproc", "2"]
    )
    assert "unknown key 'quant.weight.bits'" in str(result.exception)
    assert not (tmp_path / "q").exists()  # refused before anything started
