"""docs/codec.md's example runs, and the doc shows the script as it is."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "examples" / "codec_roundtrip.py"


def test_codec_example_runs_and_is_included_in_the_doc(capsys: pytest.CaptureFixture) -> None:
    # In-process (the example only imports thrifty and torch): no interpreter start-up cost.
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "bits/value" in out and "value delta, G=32" in out
    assert EXAMPLE.read_text() in (ROOT / "docs" / "codec.md").read_text()
