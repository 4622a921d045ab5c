"""`thrifty hw synth`: table and results file for a small PE; named errors."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from typer.testing import CliRunner

from thrifty.cli import app


def test_a_config_the_generator_cannot_build_is_one_line(tmp_path) -> None:
    result = CliRunner().invoke(
        app, ["hw", "synth", "--set", "pe.min_cycles=0", "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "min_cycles=0 cannot be built" in str(result.exception)


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("yosys") is None and not os.environ.get("CI"),
    reason="yosys is not installed (apt-get install yosys); CI installs it",
)
def test_synth_writes_results_and_prints_the_table(tmp_path) -> None:
    out = tmp_path / "synth"
    result = CliRunner().invoke(
        app,
        ["hw", "synth", "--set", "pe.lanes=1", "--set", "pe.window=product", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "synthesized_area.json").read_text())
    designs = {r["design"]: r for r in results["designs"]}
    assert set(designs) == {"term_serial_pe", "term_recoder", "dot_product_pe", "fma_unit"}
    assert designs["term_serial_pe"]["params"]["lanes"] == 1
    assert designs["term_serial_pe"]["params"]["window"] == "product"
    assert results["pe_configs"][0]["lanes"] == 1
    assert "term_serial_pe" in result.output and "µm² per MAC lane" in result.output
    assert (out / "yosys").is_dir()
