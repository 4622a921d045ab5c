"""The runnable examples of docs/quickstart.md run and print what the page says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
