"""The example in docs/traces.md runs and captures what the docs say."""

from __future__ import annotations

import runpy
from pathlib import Path

import thrifty.trace as tt

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "trace_capture.py"


def test_docs_example_captures_last_steps_of_epochs_0_and_2(tmp_path, capsys):
    runpy.run_path(str(EXAMPLE))["main"](tmp_path / "trace")
    trace = tt.open(tmp_path / "trace")
    assert sorted({(e.epoch, e.step, e.call) for e in trace}) == [(0, 3, 0), (2, 3, 0)]
    assert {e.op for e in trace} == {"forward", "backward_weight"}
    assert "conv1 backward_weight conv2d" in capsys.readouterr().out
    assert "```python" in (EXAMPLE.parents[1] / "traces.md").read_text()


ATTENTION = EXAMPLE.parent / "trace_attention.py"


def test_attention_example_records_and_simulates_both_products(tmp_path, capsys):
    runpy.run_path(str(ATTENTION))["main"](tmp_path / "trace")
    trace = tt.open(tmp_path / "trace")
    qk = "scaled_dot_product_attention.qk"
    assert {(e.layer, e.op) for e in trace.select(layer=qk)} == {
        (qk, "forward"),
        (qk, "backward_data"),
        (qk, "backward_weight"),
    }
    out = capsys.readouterr().out
    assert f"{qk} matmul attention_qk [4, 2, 8, 8] [4, 2, 8, 8]" in out
    assert "attention_av {'all':" in out
    assert "docs/examples/trace_attention.py" in (EXAMPLE.parents[1] / "traces.md").read_text()
