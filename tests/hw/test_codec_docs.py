"""docs/codec.md's example runs, and the doc shows the script as it is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "codec_roundtrip.py"


def test_codec_example_runs_and_is_included_in_the_doc() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "bits/value" in result.stdout
    assert EXAMPLE.read_text() in (ROOT / "docs" / "codec.md").read_text()
