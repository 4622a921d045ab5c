"""The runnable example of docs/quantization.md runs and reaches its target."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quantization_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, "docs/examples/quantization_example.py"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "saved and reloaded exactly" in result.stdout
    assert "mean_bits:" in result.stdout
    mean_bits = float(result.stdout.strip().splitlines()[-1].split()[2].rstrip(";"))
    assert mean_bits <= 6.0
