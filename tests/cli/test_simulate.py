"""`thrifty simulate`: table, simulation.json and plots from a real trace; config errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.hw._sim_helpers import FASHION, capture_small_cnn_step
from thrifty.cli import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST IDX files are not installed")
def test_simulate_command_writes_report_and_plots(tmp_path):
    trace = capture_small_cnn_step(tmp_path / "trace", batch=2)
    arch = tmp_path / "arch.yaml"
    arch.write_text("name: small\ntile:\n  tiles: 2\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            str(trace),
            "--arch",
            str(arch),
            "--sample",
            "0.5",
            "--out",
            str(out),
            "--set",
            "pe.lanes=16",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "total" in result.output and "speedup" in result.output
    data = json.loads((out / "simulation.json").read_text())
    assert data["config"]["name"] == "small" and data["config"]["sampling"]["fraction"] == 0.5
    assert data["config"]["pe"]["lanes"] == 16
    assert data["total"]["macs"] == sum(r["macs"] for r in data["layers"])
    # Both baselines, with and without the codec, and where each area ratio came from.
    for name in data["total"]["comparisons"]:
        assert name in result.output
    for baseline in ("dot-product", "per-lane FMA"):
        line = next(x for x in result.output.splitlines() if f"area ratio vs {baseline} PE" in x)
        assert "from synthesis (" in line or "from hand count (" in line
    for name in ("speedup.png", "terms.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_set_overrides_reach_the_simulated_config(tmp_path):
    import torch
    from torch import nn

    from thrifty import trace

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(32, 3))
    with trace.capture(model, tmp_path / "trace"):
        nn.functional.cross_entropy(model(torch.randn(2, 1, 4, 4)), torch.tensor([0, 1])).backward()
    out = tmp_path / "out"
    args = ["simulate", str(tmp_path / "trace"), "--out", str(out), "--no-plots"]
    result = CliRunner().invoke(app, [*args, "--set", "pe.lanes=4", "--set", "tile.tiles=2"])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "simulation.json").read_text())["config"]
    assert config["pe"]["lanes"] == 4 and config["tile"]["tiles"] == 2
    result = CliRunner().invoke(app, [*args, "--set", "pe.lane=4"])
    assert "unknown key 'pe.lane'" in str(result.exception)


def test_unknown_key_in_arch_file_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    from thrifty.cli import main

    arch = tmp_path / "arch.yaml"
    arch.write_text("tile:\n  tilez: 2\n")
    monkeypatch.setattr(sys, "argv", ["thrifty", "simulate", str(tmp_path), "--arch", str(arch)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert "unknown key 'tile.tilez'" in capsys.readouterr().err


@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST IDX files are not installed")
def test_unreachable_scheduler_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    pytest.importorskip("distributed")
    import socket

    from thrifty.cli import main
    from thrifty.hw.sim import distributed

    trace = capture_small_cnn_step(tmp_path / "trace", batch=2)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 1.0)
    monkeypatch.setattr(sys, "argv", ["thrifty", "simulate", str(trace), "--scheduler", address])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"cannot reach a Dask scheduler at '{address}'" in err
    assert "dask worker ADDRESS" in err


def test_docs_example_runs():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "docs/examples/simulate_api.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "total mixed" in proc.stdout
