"""docs/hardware.md: its example runs and prints what the doc shows; its area table is the
shipped synthesis file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_rtl_example_runs_and_matches_the_doc() -> None:
    script = ROOT / "docs" / "examples" / "rtl_simulate.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    doc = (ROOT / "docs" / "hardware.md").read_text()
    lines = out.splitlines()
    assert len(lines) == 6
    for line in lines:
        assert line in doc, line


def test_area_table_is_the_shipped_file() -> None:
    table = json.loads((ROOT / "thrifty/hw/cost/data/synthesized_area.json").read_text())
    doc = (ROOT / "docs" / "hardware.md").read_text()
    for r in table["designs"]:
        row = (
            f"| `{r['design']}` | {r['params'].get('window', '—')} | {r['area_um2']:,.1f} | "
            f"{r['cells']:,} | {r['transistors']:,} | {r['area_um2'] / r['lanes']:,.1f} | "
            f"{r['logic_depth']} |"
        )
        assert row in doc, row
