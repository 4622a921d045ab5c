"""The worked example of docs/pe.md runs and prints what the doc shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_worked_step_example_runs() -> None:
    script = ROOT / "docs" / "examples" / "pe_worked_step.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "T = max E + headroom = 5" in out
    assert "+2^3 (s=29, OUT)" in out
    assert "cycles=2 terms: total=7 processed=5 out_of_bounds=2 idle_lane_steps=5" in out
    assert "term-serial value = 0.8125009536743164  baseline value = 0.8125010132789612" in out
    doc = (ROOT / "docs" / "pe.md").read_text()
    for line in out.splitlines()[:6]:
        assert line in doc, line
