"""What the console says: claim verdicts with reasons, result lines under --no-progress, the
data set in --help, sparsity in a pruned run's table."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from tests.report._reports import sample_report_dict, scale_speedups
from thrifty.cli import app
from thrifty.quickstart import load_report
from thrifty.quickstart import pipeline as pipeline_module
from thrifty.quickstart.claims import claim_line, with_claims
from thrifty.quickstart.pipeline import QuickstartResult
from thrifty.report import layer_table


def _report():
    # float32 made slower than the baseline under tile sync: claim 1 does not hold.
    return with_claims(load_report(scale_speedups(sample_report_dict(), "float32", "tile", 0.1)))


def test_claim_line_gives_the_verdict_and_its_reason() -> None:
    claims = _report().claims
    assert not claims[0].held
    line = claim_line(claims[0])
    against = f" against {claims[0].baseline}" if claims[0].baseline else ""
    assert line.startswith(f"claim 1{against}: NOT held: on float32 training the speedup over")
    assert "not above 1×" in line and "tile" in line
    assert "\n" not in line and ". " not in line  # one sentence, one line
    assert ": held: the speedup is " in claim_line(claims[1])


def test_no_progress_keeps_the_data_set_and_claim_lines(tmp_path: Path, monkeypatch) -> None:
    report = _report()

    def fake_run(out, fast=False, progress=True, overrides=()):
        assert progress is False
        return QuickstartResult(report, out / "report.json", out / "report.html", 1.0)

    monkeypatch.setattr(pipeline_module, "run_quickstart", fake_run)
    result = CliRunner().invoke(app, ["quickstart", "--no-progress", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("data set: digits (Fashion-MNIST not used: no Fashion-MNIST")
    assert lines[1:] == [claim_line(claim) for claim in report.claims]
    assert result.stdout.startswith("wrote ")


def test_quickstart_help_names_its_data_set() -> None:
    result = CliRunner().invoke(app, ["quickstart", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Train four variants on Fashion-MNIST" in result.output
    assert "dataset-fashion-mnist" in result.output and "digits" in result.output
    assert "embedded" not in result.output


def test_pruned_run_table_shows_sparsity_per_layer() -> None:
    summary = {"layers": [], "weight_sparsity": {"conv1": 0.5, "fc": 0.875}}
    console = Console(width=120, record=True)
    console.print(layer_table(summary, title="run pruned"))
    text = console.export_text()
    assert "weight sparsity" in text
    rows = [line for line in text.splitlines() if "conv1" in line or "fc" in line]
    assert len(rows) == 2 and "50.0%" in rows[0] and "87.5%" in rows[1]
