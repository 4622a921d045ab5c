"""Synthesis with Yosys: the shipped table equals a fresh synthesis, reports parse, errors named.

Tests that run Yosys are skipped where it is absent, except in CI (`CI` set), where `.ci/run`
installs it and a missing Yosys must fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from importlib import resources
from pathlib import Path

import pytest
from amaranth.back import rtlil

from thrifty.errors import ConfigError, SynthesisError
from thrifty.hw import PEConfig
from thrifty.hw.rtl import TermRecoder
from thrifty.hw.synth import DESIGN_NAMES, default_liberty, designs_for, preset_configs, synthesize
from thrifty.hw.synth.yosys import run_yosys

needs_yosys = pytest.mark.skipif(
    shutil.which("yosys") is None and not os.environ.get("CI"),
    reason="yosys is not installed (apt-get install yosys); CI installs it and runs this",
)


def shipped() -> dict:
    path = resources.files("thrifty.hw.cost") / "data" / "synthesized_area.json"
    return json.loads(path.read_text())


def test_shipped_table_covers_the_presets_in_both_windows() -> None:
    table = shipped()
    assert table["schema_version"] == 1
    assert (
        table["liberty"]["sha256"]
        == __import__("hashlib").sha256(default_liberty().read_bytes()).hexdigest()
    )
    for config in preset_configs():
        for spec in designs_for(config):
            matches = [
                r
                for r in table["designs"]
                if r["design"] == spec.design
                and all(getattr(config, k) == v for k, v in r["params"].items())
            ]
            assert len(matches) == 1, (spec.design, config.window)
    assert {r["design"] for r in table["designs"]} == set(DESIGN_NAMES)
    assert {c["window"] for c in table["pe_configs"]} == {"accumulator", "product"}


@needs_yosys
@pytest.mark.slow
def test_shipped_table_equals_a_fresh_synthesis() -> None:
    """Yosys and ABC are deterministic: the same RTL and library give the same netlist."""
    table = shipped()
    fresh = synthesize([PEConfig.model_validate(c) for c in table["pe_configs"]])
    assert fresh["yosys_version"] == table["yosys_version"], "re-synthesize with this Yosys"
    assert fresh["designs"] == table["designs"]
    assert fresh["liberty"] == table["liberty"]


@needs_yosys
def test_reported_area_is_the_sum_of_the_cells(tmp_path: Path) -> None:
    recoder = TermRecoder(2, "naf")
    il = tmp_path / "design.il"
    il.write_text(rtlil.convert(recoder, ports=[recoder.fractions, recoder.plus, recoder.minus],
                                name="top"))  # fmt: skip
    figures = run_yosys(il, default_liberty(), tmp_path)
    lib = default_liberty().read_text()
    areas = dict(re.findall(r"cell \((\w+)\) \{\s*area : ([0-9.]+);", lib))
    counts = re.findall(r"^\s+(\w+_X1)\s+(\d+)$", (tmp_path / "area.txt").read_text(), re.M)
    assert counts
    assert figures.cells == sum(int(n) for _, n in counts)
    assert figures.area_um2 == pytest.approx(sum(float(areas[c]) * int(n) for c, n in counts))
    assert figures.logic_depth >= 2 and figures.transistors and figures.transistors > 0


@needs_yosys
def test_a_malformed_liberty_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken.lib"
    bad.write_text("library(broken) { cell (INV_X1 ")
    with pytest.raises(SynthesisError, match=r"could not read the Liberty file .*broken\.lib"):
        synthesize([PEConfig()], liberty=bad)


def test_missing_yosys_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SynthesisError, match=r"apt-get install yosys"):
        synthesize([PEConfig()])


def test_a_config_the_generator_cannot_build_is_named() -> None:
    with pytest.raises(ConfigError, match=r"min_cycles=0 cannot be built"):
        synthesize([PEConfig(min_cycles=0)])
