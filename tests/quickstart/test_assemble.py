"""From a real (tiny) simulation, codec run and layer bits to report records: exact sums."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from thrifty import trace
from thrifty.errors import SimulationError
from thrifty.hw.codec.accounting import measure_trace
from thrifty.hw.config import SYNC_POLICIES, HardwareConfig
from thrifty.hw.sim.simulation import simulate_trace
from thrifty.quickstart.assemble import (
    build_variant,
    codec_results,
    iso_area_sweep,
    op_summary,
    ops_from_simulation,
    sparsity_rows,
)
from thrifty.train.config import TrainConfig


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """One captured training step of a two-layer net, its simulation and codec summary."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    folder = tmp_path_factory.mktemp("assemble") / "trace"
    inputs, labels = torch.randn(2, 1, 4, 4), torch.tensor([0, 2])
    with trace.capture(model, folder):
        nn.functional.cross_entropy(model(inputs), labels).backward()
    simulation = simulate_trace(folder, HardwareConfig())
    return simulation, measure_trace(folder).by_class()


def test_per_op_speedup_is_a_ratio_of_sums(traced) -> None:
    simulation, _ = traced
    ops, total = ops_from_simulation(simulation, SYNC_POLICIES)
    assert [op.op for op in ops] == ["forward", "backward_data", "backward_weight"]
    for summary in ops:
        records = [r for r in simulation.layers if r.op == summary.op]
        # conv and linear; the first layer has no backward_data (its input needs no gradient)
        assert len(records) == (1 if summary.op == "backward_data" else 2)
        assert summary.macs == sum(r.macs for r in records)
        for policy in SYNC_POLICIES:
            baseline = sum(r.baseline_cycles[policy] for r in records)
            cycles = sum(r.cycles[policy] for r in records)
            assert summary.speedup[policy] == pytest.approx(baseline / cycles, rel=1e-12)
        energy = sum(sum(r.energy_pj.values()) for r in records)
        baseline_energy = sum(sum(r.baseline_energy_pj.values()) for r in records)
        assert summary.energy_efficiency == pytest.approx(
            dict.fromkeys(SYNC_POLICIES, baseline_energy / energy), rel=1e-12
        )
        for name in ("zero", "out_of_bounds", "processed"):
            assert getattr(summary.terms, name) == round(sum(r.terms[name] for r in records))
    assert total.op == "total" and total.macs == sum(op.macs for op in ops)
    assert total.terms.total == sum(op.terms.total for op in ops)


def test_sweep_is_the_simulators_own(traced) -> None:
    simulation, _ = traced
    sweep = iso_area_sweep(simulation.total)
    assert [p.area_ratio for p in sweep] == sorted(HardwareConfig().area.sweep)
    for point in sweep:
        assert set(point.speedup) == {"tile"}
        cycles = simulation.total.sweep_cycles
        key = next(k for k in cycles if float(k) == point.area_ratio)
        assert point.speedup["tile"] == simulation.total.sweep_baseline_cycles / cycles[key]


def test_codec_bits_per_value_by_report_class(traced) -> None:
    _, by_class = traced
    results = {c.tensor_class: c for c in codec_results(by_class)}
    assert set(results) == {"weights", "activations", "gradients"}
    weight = by_class["weight"]
    assert results["weights"].values == weight.numel
    assert results["weights"].bits_per_value == weight.encoded_bits / weight.numel


def test_a_missing_policy_is_an_error(traced) -> None:
    simulation, _ = traced
    total = simulation.total
    partial = dataclasses.replace(total, cycles={"tile": total.cycles["tile"]})
    with pytest.raises(SimulationError, match=r"lacks sync policies \['row'\]"):
        op_summary(partial, "total", ("tile", "row"))


def test_variant_record_carries_its_config_and_layers(traced) -> None:
    simulation, by_class = traced
    config = TrainConfig(seed=3)
    variant = build_variant(
        "pruned",
        0.5,
        1.0,
        sparsity_rows({"0": 0.75, "3": 0.75}),
        simulation,
        by_class,
        SYNC_POLICIES,
        config,
    )
    assert variant.train_config == config and variant.bits_kind == "none"
    assert [(row.layer, row.weight_sparsity) for row in variant.layers] == [
        ("0", 0.75),
        ("3", 0.75),
    ]
    assert variant.total == ops_from_simulation(simulation, SYNC_POLICIES)[1]
