"""The quickstart report schema: validation, round-trip, errors that name the key."""

from __future__ import annotations

import json

import pytest

from tests.report._reports import sample_report_dict
from thrifty._io import write_json_atomic
from thrifty.errors import ConfigError
from thrifty.quickstart import dump_report, load_report
from thrifty.report.schema import VARIANT_NAMES


def test_sample_report_validates_and_round_trips_through_json(tmp_path) -> None:
    data = sample_report_dict()
    report = load_report(data)
    assert [v.name for v in report.variants] == list(VARIANT_NAMES)
    assert dump_report(report) == data
    write_json_atomic(tmp_path / "report.json", dump_report(report))
    assert load_report(json.loads((tmp_path / "report.json").read_text())) == report


def test_variant_lookup_and_label() -> None:
    report = load_report(sample_report_dict())
    assert report.variant("float_bits").label == "learned per-layer float precision"
    assert report.variant("float_bits").layers[1].weight_bits == 3.0
    assert report.variant("nope") is None


def _with(path: list, value):
    data = sample_report_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (["variants", 0, "accuracy"], 1.5, r"variants.0.accuracy: Input should be less than"),
        (["variants", 0, "total", "terms", "zero"], 1, r"each term is exactly one of the three"),
        (["variants", 0, "ops", 0, "speedup"], {"lockstep": 1.0}, r"speedup.lockstep"),
        (["variants", 1, "name"], "float32", r"variant names .* repeat"),
        (["variants", 0, "total", "op"], "forward", r"total.op is 'forward', not 'total'"),
        (["dataset", "name"], "", r"dataset.name: String should have at least 1 character"),
        (["schema_version"], 2, r"schema_version: Input should be 1"),
        (["extra"], 1, r"unknown key 'extra'"),
    ],
)
def test_bad_reports_name_the_key(path, value, match) -> None:
    with pytest.raises(ConfigError, match=match):
        load_report(_with(path, value))
