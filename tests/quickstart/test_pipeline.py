"""run_quickstart's orchestration, with the not-yet-composed stages replaced by fakes.

Data loading, float32 training and pruned training are the real stage functions (on a tiny
random data set); trace capture, simulation, codec and the learned-bits variants are fakes
that return what those stages return, so the report, claims and HTML are exercised end to end.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json

import pytest
import torch
from PIL import Image

from thrifty.errors import SimulationError
from thrifty.quickstart import load_report, run_quickstart
from thrifty.quickstart import pipeline as pipeline_module
from thrifty.quickstart.budget import FAST_BUDGET
from thrifty.quickstart.stages import (
    QuickstartStages,
    TrainedVariant,
    bundle_from_tensors,
    train_variant,
)
from thrifty.report import quickstart_plots as plots

# Whole-step cycles of each variant's fake simulation (baseline: 1000 cycles).
_CYCLES = {"float32": 800, "pruned": 500, "integer_bits": 400, "float_bits": 900}


def _tiny_data(choice, budget):
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(96, 1, 8, 8, generator=generator)
    labels = torch.randint(0, 10, (96,), generator=generator)
    budget = dataclasses.replace(budget, train_examples=64, test_examples=32, batch_size=32)
    return bundle_from_tensors((images, labels), (images, labels), budget, 8, 10)


def _fake_bits(name, reference, data, budget, run_dir):
    if name == "pruned":
        return train_variant(name, reference, data, budget, run_dir)
    layers = [{"layer": layer, "weight_bits": 4.0, "activation_bits": 6.0} for layer in ("a", "b")]
    kind = "integer" if name == "integer_bits" else "mantissa"
    model = copy.deepcopy(reference.model)
    return TrainedVariant(name, model, 0.5, 0.1, layers, kind)


def _fake_capture(trained, data, budget, trace_dir):
    trace_dir.mkdir(parents=True)
    return trace_dir


def _fake_simulate(trace_dir, budget, out_path):
    cycles = _CYCLES[trace_dir.name]
    record = {
        "layer": "conv1",
        "macs": 10,
        "baseline_cycles": {"tile": 1000, "row": 1000, "ideal": 1000},
        "cycles": {"tile": cycles, "row": cycles, "ideal": cycles // 2},
        "energy_pj": 1.0,
        "baseline_energy_pj": 2.0,
        "terms": {"total": 8, "zero": 4, "out_of_bounds": 1, "processed": 3},
    }
    return {
        "records": [{**record, "op": op} for op in ("forward", "backward_data")],
        "area": {"ratio": 2.5},
    }


def _fake_codec(trace_dir):
    return [{"tensor_class": "weights", "values": 10, "bits": 95}]


def _fake_hardware():
    return {
        "baseline": "bit-parallel bfloat16 PEs",
        "area_ratio": 2.0,
        "sync_policies": ["tile", "row", "ideal"],
    }


_STAGES = QuickstartStages(
    load_data=_tiny_data,
    train_variant=_fake_bits,
    capture=_fake_capture,
    simulate=_fake_simulate,
    codec=_fake_codec,
    hardware=_fake_hardware,
)


@pytest.fixture(autouse=True)
def _quick_figures(monkeypatch):
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "blue").save(buffer, format="PNG")
    png = buffer.getvalue()
    for name in ("speedup_figure", "energy_figure", "terms_figure", "sweep_figure"):
        monkeypatch.setattr(plots, name, lambda report: png)


def test_quickstart_writes_a_valid_report_with_honest_claims(tmp_path, capsys) -> None:
    result = run_quickstart(
        tmp_path / "out", fast=True, progress=True, stages=_STAGES, dataset_root=tmp_path / "no"
    )
    report = load_report(json.loads(result.report_json.read_text()))
    assert report == result.report
    assert [v.name for v in report.variants] == ["float32", "pruned", "integer_bits", "float_bits"]
    assert report.dataset.name == "digits" and report.dataset.fell_back
    assert "no folder" in report.dataset.reason
    assert report.dataset.train_examples == 64 and report.fast
    assert report.provenance["config"]["budget"]["name"] == "fast"
    assert report.provenance["seed"] == 0
    assert report.hardware.area_ratio == 2.5  # the simulator's, not the stage's 2.0
    float32 = report.variant("float32")
    assert float32.total.speedup == {"tile": 1000 / 800, "row": 1000 / 800, "ideal": 1000 / 400}
    pruned = report.variant("pruned")
    assert [layer.weight_sparsity for layer in pruned.layers] == [0.75] * 4
    # float_bits is slower than float32 here: claim 3 must say so.
    assert [c.held for c in report.claims] == [True, True, False]
    assert report.claims[2].sentence.startswith("Not held:")
    page = result.report_html.read_text()
    assert page.count('class="badge"') == 3 and "NOT HELD" in page
    err = capsys.readouterr().err
    assert "data set: scikit-learn digits" in err and "claim 3: NOT held" in err


def test_quickstart_warns_when_over_budget(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(
        pipeline_module, "budget_for", lambda fast: dataclasses.replace(FAST_BUDGET, wall_seconds=0)
    )
    with pytest.warns(RuntimeWarning, match=r"over its 0 s budget"):
        result = run_quickstart(tmp_path, fast=True, progress=False, stages=_STAGES)
    assert result.report_json.is_file() and result.report_html.is_file()


def test_variants_simulated_at_different_area_ratios_are_an_error(tmp_path) -> None:
    def simulate(trace_dir, budget, out_path):
        result = _fake_simulate(trace_dir, budget, out_path)
        return {**result, "area": {"ratio": 3.0 if trace_dir.name == "pruned" else 2.5}}

    stages = dataclasses.replace(_STAGES, simulate=simulate)
    with pytest.raises(SimulationError, match=r"different area ratios \[2.5, 3.0\]"):
        run_quickstart(tmp_path, fast=True, progress=False, stages=stages)
