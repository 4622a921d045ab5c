"""docs/export.md's example runs: packed reload bit for bit, ONNX as written and QONNX as
thrifty computes (the tolerances of test_onnx.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_export_example_runs(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "docs/examples/export_model.py", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "reloaded bit for bit: True" in out
    assert re.search(r"onnx \(as written\): .* argmax agreement 100\.0%", out), out
    assert re.search(r"qonnx: .* argmax agreement 100\.0%", out), out
    names = {"model.packed.safetensors", "model.onnx", "model.qonnx.onnx"}
    assert {p.name for p in tmp_path.iterdir()} == names
