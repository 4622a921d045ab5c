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
from thrifty.errors import ConfigError, SimulationError
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
    overrides = ["hardware.pe.lanes=4", "train.optimizer.momentum=0.8"]
    return out, run_quickstart(
        out, progress=False, stages=_STAGES, budget=TINY_BUDGET, overrides=overrides
    )


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
    assert report.hardware.config.pe.lanes == 4  # the --set override reaches the report
    assert {v.train_config.optimizer.momentum for v in report.variants} == {0.8}
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
    # Claim 1 against each baseline, then claims 2 and 3.
    assert page.count('class="badge"') == 4 and "TinyNet" in page
    assert [c.baseline for c in report.claims[:2]] == ["dot_product", "per_lane_fma"]
    reference = json.loads((out / "simulation" / "float32" / "simulation.json").read_text())
    got = {c.name: c for c in report.variant("float32").comparisons}
    for name, c in reference["total"]["comparisons"].items():
        assert got[name].speedup == {p: c["speedup"][p] for p in report.hardware.sync_policies}
        assert got[name].energy_efficiency_total == c["energy_efficiency_total"]
    assert [a.ratio for a in report.hardware.areas] == [
        reference["area"]["baselines"][b]["ratio"] for b in ("dot_product", "per_lane_fma")
    ]
    # Both windows of the float32 reference, each simulated and costed against float64.
    accumulator, product = report.windows
    assert (accumulator.window, product.window) == ("accumulator", "product")
    assert (accumulator.window_bits, product.window_bits) == (27, 19)
    assert accumulator.comparisons == report.variant("float32").comparisons
    narrow = json.loads(
        (out / "simulation" / "float32-product-window" / "simulation.json").read_text()
    )
    assert narrow["config"]["pe"]["window"] == "product"
    assert product.terms.out_of_bounds == round(narrow["total"]["terms"]["out_of_bounds"])
    assert product.numeric_cost.outputs == accumulator.numeric_cost.outputs > 0
    assert product.numeric_cost.baseline_error_mean == accumulator.numeric_cost.baseline_error_mean


def test_report_has_the_integer_inference_of_the_learned_integer_model(run) -> None:
    out, result = run
    inference = result.report.inference
    assert inference is not None and inference.variant == "integer_bits"
    written = json.loads((out / "inference" / "inference.json").read_text())
    assert inference.images == written["images"] == 4
    assert written["config"] == result.report.hardware.config.model_dump(mode="json")
    integer = result.report.variant("integer_bits")
    learned = [row for row in inference.layers if row.precision == "learned"]
    assert [row.layer for row in learned] == [row.layer for row in integer.layers]
    for row, bits in zip(learned, integer.layers, strict=True):
        assert (row.activation_bits, row.weight_bits) == (bits.activation_bits, bits.weight_bits)
    for design in inference.designs:
        per = written[design.precision]["per_inference"]
        assert design.cycles == per["cycles"][design.design]
        assert design.energy_pj == per["energy_pj"][design.design]
    assert inference.top1_agreement == 1.0
    assert 'id="inference"' in result.report_html.read_text()


def test_a_second_run_into_the_same_folder_gives_the_same_numbers(run, tmp_path) -> None:
    out, first = run
    # The simulator leaves torch's thread count at the core count (it should restore it);
    # training with another thread count rounds differently, so start where the first run did.
    torch.set_num_threads(1)
    overrides = ["hardware.pe.lanes=4", "train.optimizer.momentum=0.8"]
    again = run_quickstart(
        out, progress=False, stages=_STAGES, budget=TINY_BUDGET, overrides=overrides
    )
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


def test_overrides_name_the_config_they_change(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"--set 'pe.lanes=4' must start with one of"):
        run_quickstart(tmp_path, progress=False, stages=_STAGES, overrides=["pe.lanes=4"])
