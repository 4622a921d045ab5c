"""run_quickstart end to end on a user's own (tiny) data and model: every stage real.

The report must hold what the stages measured: each variant's record is the one the
assemble functions make from its own simulation.json, its training config is the one its run
folder recorded, and the claims are the ones judged from the report's own numbers.
"""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
import torch
import yaml
from PIL import Image

from tests.quickstart._tiny import TINY_BUDGET, separable_splits, tiny_net
from thrifty.errors import SimulationError
from thrifty.quickstart import evaluate_claims, load_report, run_quickstart
from thrifty.quickstart.stages import QuickstartStages, simulate
from thrifty.report import quickstart_plots as plots

_STAGES = QuickstartStages(
    load_data=lambda choice, budget: separable_splits(), build_model=tiny_net
)


@pytest.fixture(autouse=True)
def _quick_figures(monkeypatch):
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "blue").save(buffer, format="PNG")
    png = buffer.getvalue()
    for name in ("speedup_figure", "energy_figure", "terms_figure", "sweep_figure"):
        monkeypatch.setattr(plots, name, lambda report: png)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    torch.set_num_threads(1)  # as the second run of the rerun test starts
    return out, run_quickstart(out, progress=False, stages=_STAGES, budget=TINY_BUDGET)


def test_report_is_built_from_the_runs_and_simulations(run) -> None:
    out, result = run
    report = load_report(json.loads(result.report_json.read_text()))
    assert report == result.report
    assert [v.name for v in report.variants] == ["float32", "pruned", "integer_bits", "float_bits"]
    assert report.model == "TinyNet" and report.dataset.name == "two bands"
    assert not report.dataset.fell_back and report.dataset.train_examples == 96
    assert report.provenance["config"]["budget"]["name"] == "tiny"
    assert report.provenance["seed"] == 0
    assert report.hardware.config.sampling.fraction == TINY_BUDGET.sim_sample_fraction
    for variant in report.variants:
        folder = out / "runs" / variant.name
        recorded = yaml.safe_load((folder / "config.yaml").read_text())
        assert variant.train_config.model_dump(mode="json") == recorded
        summary = json.loads((folder / "summary.json").read_text())
        assert variant.accuracy == summary["final_accuracy"]
        simulation = json.loads((out / "simulation" / variant.name / "simulation.json").read_text())
        assert report.hardware.area_ratio == simulation["area"]["ratio"]
        for policy in report.hardware.sync_policies:
            assert variant.total.speedup[policy] == simulation["total"]["speedup"][policy]
        assert variant.total.macs == simulation["total"]["macs"]
    pruned = report.variant("pruned")
    assert [(row.layer, row.weight_sparsity) for row in pruned.layers] == [
        ("conv", 0.75),
        ("fc", 0.75),
    ]
    integer = report.variant("integer_bits")
    assert integer.bits_kind == "integer" and all(row.weight_bits for row in integer.layers)
    assert report.claims == evaluate_claims(report)
    page = result.report_html.read_text()
    assert page.count('class="badge"') == 3 and "TinyNet" in page


def test_a_second_run_into_the_same_folder_gives_the_same_numbers(run, tmp_path) -> None:
    out, first = run
    # The simulator leaves torch's thread count at the core count (it should restore it);
    # training with another thread count rounds differently, so start where the first run did.
    torch.set_num_threads(1)
    again = run_quickstart(out, progress=False, stages=_STAGES, budget=TINY_BUDGET)
    for a, b in zip(first.report.variants, again.report.variants, strict=True):
        assert (a.accuracy, a.total, a.layers) == (b.accuracy, b.total, b.layers)


def test_quickstart_warns_when_over_budget(tmp_path) -> None:
    budget = dataclasses.replace(TINY_BUDGET, wall_seconds=0, reference_epochs=1)
    with pytest.warns(RuntimeWarning, match=r"over its 0 s budget"):
        result = run_quickstart(tmp_path, progress=False, stages=_STAGES, budget=budget)
    assert result.report_json.is_file() and result.report_html.is_file()


def test_variants_simulated_at_different_area_ratios_are_an_error(tmp_path) -> None:
    def other_ratio(trace_dir, config, out_dir):
        if trace_dir.name == "pruned":
            area = config.area.model_copy(update={"ratio_override": 3.0})
            config = config.model_copy(update={"area": area})
        return simulate(trace_dir, config, out_dir)

    stages = dataclasses.replace(_STAGES, simulate=other_ratio)
    budget = dataclasses.replace(TINY_BUDGET, reference_epochs=1)
    with pytest.raises(SimulationError, match=r"area ratios \[.*, 3.0\]"):
        run_quickstart(tmp_path, progress=False, stages=stages, budget=budget)
