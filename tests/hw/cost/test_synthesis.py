"""The synthesis-table loader and the iso-area ratios it gives, on tables the tests write.

The areas in these tables are made up for the tests (round numbers whose ratios are worked by
hand); they are never shipped.
"""

from __future__ import annotations

import json

import pytest

from thrifty.errors import ConfigError
from thrifty.hw.config import HardwareConfig, load_hardware_config, preset_names
from thrifty.hw.cost.area import bit_parallel_pe_area, per_lane_fma_pe_area, term_serial_pe_area
from thrifty.hw.cost.iso_area import area_report
from thrifty.hw.cost.synthesis import SHIPPED_TABLE, read_synthesis_table
from thrifty.hw.pe.config import PEConfig

PARAMS = {"lanes": 8, "accumulator_bits": 24, "guard_bits": 3, "headroom": 4, "encoding": "naf"}


def _record(design, area, params=None, lanes=8):
    return {"design": design, "params": dict(PARAMS if params is None else params),
            "area_um2": area, "cells": 100, "transistors": 400, "logic_depth": 12,
            "lanes": lanes}  # fmt: skip


def _write(tmp_path, designs, name="table.json", **top):
    data = {"schema_version": 1, "thrifty_version": "0.test", "yosys_version": "Yosys 0.23 test",
            "liberty": {"name": "test45", "file": "test45.lib", "sha256": "00"},
            "designs": designs, **top}  # fmt: skip
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _full(tmp_path, **areas):
    want = {"term_serial_pe": 1000.0, "term_recoder": 400.0, "dot_product_pe": 2100.0,
            "fma_unit": 500.0, **areas}  # fmt: skip
    return _write(tmp_path, [_record(d, a) for d, a in want.items()])


def _config(path, **sections):
    data = {"area": {"synthesis_file": str(path)}, "tile": {"cols": 8}}
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return HardwareConfig.model_validate(data)


def test_ratios_from_the_table_by_hand(tmp_path):
    path = _full(tmp_path)
    report = area_report(_config(path))
    # Term-serial PE: 1000 + 400 / 8 recoder share = 1050 µm².
    dot, fma = report.baselines["dot_product"], report.baselines["per_lane_fma"]
    assert dot.term_serial_pe_um2 == fma.term_serial_pe_um2 == 1050.0
    assert dot.baseline_pe_um2 == 2100.0 and dot.ratio == 2.0
    assert fma.baseline_pe_um2 == 8 * 500.0 and fma.ratio == 4000.0 / 1050.0
    assert report.ratio == dot.ratio and report.notes == ()
    for b in (dot, fma):
        assert b.source.kind == "synthesis" and b.source.library == "test45"
        assert b.source.yosys_version == "Yosys 0.23 test" and b.source.table == str(path)
        assert "Yosys 0.23 test" in b.source.describe() and "lanes=8" in b.source.describe()
    assert set(fma.source.params) == {"term_serial_pe", "term_recoder", "fma_unit"}
    # The hand count stays beside as a cross-check, from the same cells as area.py.
    cfg = HardwareConfig()
    ts = term_serial_pe_area(cfg.area, 8, 27, 8).total_ge
    assert dot.hand_count_ratio == bit_parallel_pe_area(cfg.area, 8, 27).total_ge / ts
    assert fma.hand_count_ratio == per_lane_fma_pe_area(cfg.area, 8, 27).total_ge / ts
    # Leakage areas in NAND2 equivalents of the configured cell area.
    assert report.pe_area_ge("dot_product") == 2100.0 / 0.798


def test_headline_baseline_and_override(tmp_path):
    path = _full(tmp_path)
    report = area_report(_config(path, baseline="per_lane_fma"))
    assert report.headline == "per_lane_fma" and report.ratio == 4000.0 / 1050.0
    fixed = area_report(_config(path, baseline="per_lane_fma", area={"ratio_override": 1.5}))
    assert fixed.ratio == 1.5 and fixed.baselines["per_lane_fma"].measured_ratio == 4000 / 1050
    assert fixed.baselines["per_lane_fma"].source.kind == "override"
    assert "Yosys 0.23 test" in fixed.baselines["per_lane_fma"].source.describe()
    assert fixed.baselines["dot_product"].ratio == 2.0  # the other baseline keeps its own


def test_record_matching_is_on_every_param(tmp_path):
    other = {**PARAMS, "guard_bits": 2}
    path = _write(tmp_path, [_record("dot_product_pe", 10.0, other),
                             _record("dot_product_pe", 20.0, {"lanes": 8}),
                             _record("dot_product_pe", 30.0, PARAMS),
                             _record("fma_unit", 5.0, {"no_such_field": 1})])  # fmt: skip
    table = read_synthesis_table(path)
    pe = PEConfig()
    assert table.find("dot_product_pe", pe).area_um2 == 30.0  # most specific match
    assert table.find("dot_product_pe", PEConfig(guard_bits=2)).area_um2 == 10.0
    assert table.find("dot_product_pe", PEConfig(lanes=8, guard_bits=1)).area_um2 == 20.0
    assert table.find("dot_product_pe", PEConfig(lanes=4)) is None
    assert table.find("fma_unit", pe) is None  # a param the config lacks never matches
    with pytest.raises(ConfigError, match="unknown synthesized design 'adder'"):
        table.find("adder", pe)


def test_uncovered_config_falls_back_to_hand_count_with_a_note(tmp_path):
    path = _full(tmp_path)
    report = area_report(_config(path, pe={"lanes": 16}))
    for name, b in report.baselines.items():
        assert b.source.kind == "hand_count" and b.ratio == b.hand_count_ratio
        assert "no term_serial_pe, term_recoder" in b.source.reason
        assert "lanes=16" in b.source.reason
        assert any(n.startswith(f"{name} baseline: iso-area ratio from the hand count")
                   for n in report.notes)  # fmt: skip
    # Only the FMA record is missing: the dot-product ratio still comes from synthesis.
    partial = _write(tmp_path, [_record(d, 100.0) for d in
                                ("term_serial_pe", "term_recoder", "dot_product_pe")],
                     name="partial.json")  # fmt: skip
    report = area_report(_config(partial))
    assert report.baselines["dot_product"].source.kind == "synthesis"
    assert report.baselines["per_lane_fma"].source.kind == "hand_count"
    assert "no fma_unit record" in report.baselines["per_lane_fma"].source.reason
    assert len(report.notes) == 1


def test_hand_count_model_reads_no_table(tmp_path):
    missing = tmp_path / "absent.json"
    report = area_report(_config(missing, area={"model": "hand_count"}))
    assert report.notes == ()
    assert all(b.source.kind == "hand_count" for b in report.baselines.values())
    assert "area.model is 'hand_count'" in report.baselines["dot_product"].source.describe()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "cannot be read as JSON"),
        ("[]", "top level is list, expected an object"),
        ({"schema_version": 2}, "schema_version is 2, expected 1"),
        ({"liberty": "x"}, "liberty must be an object"),
        ({"designs": {}}, "designs is dict, expected a list"),
        ({"designs": [{"design": "adder"}]}, r"designs\[0\] lacks \['params'"),
        ({"designs": [_record("adder", 1.0)]}, r"designs\[0\].design is 'adder'"),
        ({"designs": [_record("fma_unit", -1.0)]}, r"area_um2 is -1.0, expected a positive"),
        ({"designs": [_record("fma_unit", "big")]}, r"area_um2 is 'big'"),
        ({"designs": [{**_record("fma_unit", 1.0), "cells": 1.5}]}, r"cells is 1.5"),
        ({"designs": [{**_record("fma_unit", 1.0), "params": [1]}]}, r"params is list"),
    ],
)
def test_malformed_tables_are_named_errors(tmp_path, content, match):
    if isinstance(content, dict):
        path = _write(tmp_path, content.pop("designs", []), **content)
    else:
        path = tmp_path / "bad.json"
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=match) as info:
        area_report(_config(path))
    assert str(path) in str(info.value) and "thrifty hw synth" in str(info.value)


def test_missing_user_table_is_a_named_error(tmp_path):
    with pytest.raises(ConfigError, match="absent.json': no such file"):
        area_report(_config(tmp_path / "absent.json"))


def test_hand_count_follows_the_window_except_the_fma_unit():
    wide = area_report(HardwareConfig.model_validate({"area": {"model": "hand_count"}}))
    narrow = area_report(HardwareConfig.model_validate(
        {"area": {"model": "hand_count"}, "pe": {"window": "product"}}))  # fmt: skip
    cfg = HardwareConfig().area
    assert narrow.hand_count_ge["term_serial"] == term_serial_pe_area(cfg, 8, 19, 8)
    assert narrow.hand_count_ge["dot_product"] == bit_parallel_pe_area(cfg, 8, 19)
    assert narrow.hand_count_ge["per_lane_fma"] == wide.hand_count_ge["per_lane_fma"]
    fma = narrow.baselines["per_lane_fma"]
    assert fma.hand_count_ratio > wide.baselines["per_lane_fma"].hand_count_ratio


@pytest.mark.skipif(not SHIPPED_TABLE.exists(), reason="no synthesis table shipped yet")
@pytest.mark.parametrize("preset", preset_names())
@pytest.mark.parametrize("window", ["accumulator", "product"])
def test_shipped_table_covers_the_presets_for_both_windows(preset, window):
    data = load_hardware_config(preset).model_dump()
    data["pe"]["window"] = window
    report = area_report(HardwareConfig.model_validate(data))
    assert report.notes == ()
    for b in report.baselines.values():
        assert b.source.kind == "synthesis" and b.source.table == str(SHIPPED_TABLE)
        assert b.source.library and b.source.yosys_version.startswith("Yosys")
        assert b.ratio > 0 and b.source.params["term_serial_pe"]["window"] == window
