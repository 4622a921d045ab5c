"""`thrifty quickstart` parses its options and calls run_quickstart with them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import typer
from typer.testing import CliRunner

from tests.report._reports import sample_report_dict
from thrifty.cli import quickstart as commands
from thrifty.quickstart import load_report, pipeline


def _app() -> typer.Typer:
    app = typer.Typer()
    commands.register(app)

    @app.callback()
    def _root() -> None:
        """Keep `quickstart` a named subcommand."""

    return app


def test_options_reach_run_quickstart(monkeypatch, tmp_path) -> None:
    calls = []

    def fake(out, fast, progress, overrides):
        calls.append((out, fast, progress, overrides))
        return SimpleNamespace(
            report=load_report(sample_report_dict()),  # --no-progress prints its result lines
            report_json=out / "report.json",
            report_html=out / "report.html",
        )

    monkeypatch.setattr(pipeline, "run_quickstart", fake)
    runner = CliRunner()
    result = runner.invoke(
        _app(),
        [
            "quickstart",
            "--out",
            str(tmp_path),
            "--fast",
            "--no-progress",
            "--set",
            "hardware.pe.lanes=16",
        ],
    )
    assert result.exit_code == 0, result.output
    assert calls == [(tmp_path, True, False, ["hardware.pe.lanes=16"])]
    assert f"wrote {tmp_path / 'report.json'} and {tmp_path / 'report.html'}" in result.output
    result = runner.invoke(_app(), ["quickstart"])
    assert calls[-1] == (Path("thrifty-quickstart"), False, True, [])


def test_help_names_the_options() -> None:
    result = CliRunner().invoke(_app(), ["quickstart", "--help"])
    assert result.exit_code == 0
    for option in ("--out", "--fast", "--no-progress", "--set"):
        assert option in result.output
