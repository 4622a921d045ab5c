"""`thrifty trace info` and the statistics behind it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import thrifty.trace as tt
from tests.trace._trace_nets import ConvNet
from thrifty.cli import app
from thrifty.errors import TraceError
from thrifty.trace.geometry import macs
from thrifty.trace.stats import OperandStats, bfloat16_significands, trace_summary

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")


def _popcount(m: np.ndarray) -> np.ndarray:
    return np.array([bin(int(v)).count("1") for v in m.ravel()], dtype=np.int64)


def test_significands_and_exponents_of_every_bfloat16_value():
    bits = torch.arange(-(1 << 15), 1 << 15, dtype=torch.int32).to(torch.int16)
    values = bits.view(torch.bfloat16)
    significand, exponent = bfloat16_significands(values)
    x = values.float()
    keep = torch.isfinite(x) & (x != 0)
    x = x[keep].double().abs()
    # Independent: |x| = significand * 2**(exponent - 7), significand in [128, 256) if normal.
    torch.testing.assert_close(
        torch.from_numpy(significand).double() * torch.exp2(torch.from_numpy(exponent) - 7.0), x
    )
    normal = x >= 2.0**-126
    assert np.all((significand[normal.numpy()] >= 128) & (significand[normal.numpy()] < 256))
    assert np.all(exponent[~normal.numpy()] == -126)
    assert len(significand) == 2 * (254 * 128 + 127)  # both signs: normals + subnormals


def test_operand_stats_known_values():
    stats = OperandStats()
    stats.add(torch.tensor([0.0, 1.0, 3.0, -0.5, 255 / 128]), _popcount)
    # significands 128 (1 term), 192 (2), 128 (1), 255 (8); zero counts none
    assert stats.as_dict() == {
        "values": 5,
        "zero_fraction": 0.2,
        "exponent_min": -1,
        "exponent_max": 1,
        "mean_terms": 12 / 5,
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("info") / "t"
    model = ConvNet()
    with tt.capture(model, folder):
        for _ in range(2):
            model(torch.randn(2, 3, 8, 8)).sum().backward()
    return folder


def test_summary_rows_and_mac_counts(store):
    summary = trace_summary(store)
    rows = {(r["layer"], r["op"]): r for r in summary["rows"]}
    assert len(rows) == 6 * 3 - 1 and summary["entries"] == 2 * len(rows)
    # Independent MAC counts: output elements × (in-channels per group × kernel elements).
    assert rows[("conv1", "forward")]["macs"] == 2 * (2 * 8 * 4 * 4) * (3 * 3 * 3)
    assert rows[("conv3", "backward_weight")]["macs"] == 2 * (2 * 8 * 4 * 4) * (1 * 3 * 3)
    assert rows[("fc", "backward_data")]["macs"] == 2 * (2 * 5) * 32
    assert rows[("conv2", "backward_data")]["shapes"]["output"] == [2, 8, 4, 4]
    assert rows[("conv2", "backward_weight")]["shapes"]["output"] == [8, 4, 3, 3]
    fwd = rows[("conv2", "forward")]
    assert fwd["bytes"] == 2 * 4 * (2 * 8 * 4 * 4 + 8 * 4 * 3 * 3)
    # conv2's input comes out of an in-place ReLU: about half of it is zero.
    assert 0.2 < fwd["operands"]["activation"]["zero_fraction"] < 0.8
    assert fwd["operands"]["weight"]["zero_fraction"] == 0.0
    assert 1.0 <= fwd["operands"]["weight"]["mean_terms"] <= 8.0
    for entry in tt.open(store):
        assert macs(entry.geometry) > 0


def test_cli_info_prints_a_table_and_json(store):
    runner = CliRunner()
    result = runner.invoke(app, ["trace", "info", str(store)])
    assert result.exit_code == 0, result.output
    for text in ("conv1", "backward_weight", "fc", "terms per value"):
        assert text in result.output
    result = runner.invoke(app, ["trace", "info", str(store), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["entries"] == 34


def test_cli_info_on_a_missing_store_is_a_trace_error(tmp_path):
    result = CliRunner().invoke(app, ["trace", "info", str(tmp_path / "none")])
    assert isinstance(result.exception, TraceError)
    assert "manifest.json is missing" in str(result.exception)


def test_terms_use_thrifty_numerics_encodings_when_present():
    numerics = pytest.importorskip("thrifty.numerics")
    if not hasattr(numerics, "reference_terms"):
        pytest.skip("thrifty.numerics has no term encodings on this branch")
    from thrifty.trace.stats import _term_counter

    count, used = _term_counter("naf")
    assert used.startswith("naf")
    significands = np.arange(128, 256)
    expected = [len(numerics.reference_terms(int(m), "naf")) for m in significands]
    assert count(significands).tolist() == expected
    assert max(expected) == 5  # NAF needs at most 5 terms for an 8-bit significand


def test_cli_info_table_fits_the_terminal_width(store):
    result = CliRunner().invoke(app, ["trace", "info", str(store)], env={"COLUMNS": "72"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("backward_weight" in line for line in lines)
    assert max(len(line) for line in lines) <= 72
