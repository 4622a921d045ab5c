"""The runnable examples of docs/quickstart.md run and print what the page says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_prune_own_model_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, "docs/examples/prune_own_model.py"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "0: 0.806 of the weights are zero",
        "3: 0.800 of the weights are zero",
    ]
    assert "prune_own_model.py" in (REPO / "docs" / "quickstart.md").read_text()


def test_own_model_quickstart_example_writes_a_report(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "docs/examples/own_model_quickstart.py", str(tmp_path / "out")],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    names = [line.split(":")[0] for line in lines[:4]]
    assert names == ["float32", "pruned", "integer_bits", "float_bits"]
    assert [line.split(":")[0] for line in lines[4:8]] == [
        "claim 1 against dot_product",
        "claim 1 against per_lane_fma",
        "claim 2",
        "claim 3",
    ]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["model"] == "MyNet"
    assert report["dataset"]["name"] == "random 8×8 images"
    assert (tmp_path / "out" / "report.html").is_file()
    assert "own_model_quickstart.py" in (REPO / "docs" / "quickstart.md").read_text()


def _thrifty(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "thrifty.cli", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


TINY_DIGITS = (
    "--set",
    "data.name=digits",
    "--set",
    "data.train_subset=256",
    "--set",
    "data.test_subset=100",
)


def test_config_file_chain_train_simulate_compress(tmp_path: Path) -> None:
    """docs/quickstart.md's commands on pruned.yaml, shrunk to a tiny digits run."""
    run = tmp_path / "pruned"
    shrink = ("--set", "phases.float.epochs=2", "--set", "pruning.end_step=6")
    shrink += ("--set", "trace.epochs=[1]")  # the last of the 2 epochs
    trained = _thrifty(
        "train", "docs/examples/config/pruned.yaml", "--out", str(run), *TINY_DIGITS, *shrink
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["weight_sparsity"]) == {"conv1", "conv2", "fc1", "fc2"}
    assert all(abs(s - 0.75) < 0.01 for s in summary["weight_sparsity"].values())
    trace = run / "trace" / "float"
    simulated = _thrifty(
        "simulate", str(trace), "--out", str(run / "simulation"), "--sample", "0.05", "--no-plots"
    )
    assert simulated.returncode == 0, simulated.stderr[-3000:]
    assert "speedup" in (run / "simulation" / "simulation.json").read_text()
    compressed = _thrifty("compress", str(trace), "--out", str(run / "codec.json"))
    assert compressed.returncode == 0, compressed.stderr[-3000:]
    assert json.loads((run / "codec.json").read_text())
    page = (REPO / "docs" / "quickstart.md").read_text()
    assert "thrifty simulate runs/pruned/trace/float" in page


def test_float_bits_config_is_valid() -> None:
    from thrifty.train.config import load_train_config

    config = load_train_config(REPO / "docs" / "examples" / "config" / "float_bits.yaml")
    quant, trace = config.quant, config.trace
    assert quant.weight.kind == "float_mantissa" and quant.activation.kind == "float_mantissa"
    assert config.gradients is not None and config.gradients.layers == {"fc1": 4}
    assert trace.epochs == [3]  # the finetune phase's only epoch (float 0-1, learn 2)
