"""From simulation records, codec entries and layer bits to report records: exact sums."""

from __future__ import annotations

import pytest

from thrifty.errors import SimulationError
from thrifty.quickstart.assemble import (
    aggregate_records,
    build_variant,
    codec_results,
    iso_area_sweep,
    ops_from_simulation,
)

POLICIES = ("tile", "row", "ideal")


def _record(layer: str, op: str, scale: int) -> dict:
    return {
        "layer": layer,
        "op": op,
        "macs": 100 * scale,
        "baseline_cycles": {"tile": 40 * scale, "row": 40 * scale, "ideal": 40 * scale},
        "cycles": {"tile": 20 * scale, "row": 16 * scale, "ideal": 10 * scale},
        "speedup": {"tile": 2.0, "row": 2.5, "ideal": 4.0},
        "energy_pj": 5.0 * scale,
        "baseline_energy_pj": {"tile": 10.0 * scale, "row": 10.0 * scale, "ideal": 10.0 * scale},
        "terms": {
            "total": 80 * scale,
            "zero": 30 * scale,
            "out_of_bounds": 10 * scale,
            "processed": 40 * scale,
        },
    }


def _simulation() -> dict:
    records = [
        _record("conv1", "forward", 1),
        _record("fc", "forward", 3),
        _record("conv1", "backward_data", 2),
        _record("conv1", "backward_weight", 1),
    ]
    # A slow layer: the sum must weight it by its cycles, not average the ratios.
    records[1]["cycles"] = {"tile": 120, "row": 120, "ideal": 120}
    return {"records": records, "total": {"layer": "total", "op": "total"}}


def test_per_op_speedup_is_a_ratio_of_sums() -> None:
    ops, total = ops_from_simulation(_simulation(), POLICIES)
    assert [op.op for op in ops] == ["forward", "backward_data", "backward_weight"]
    forward = ops[0]
    assert forward.macs == 400
    assert forward.speedup == {"tile": 160 / 140, "row": 160 / 136, "ideal": 160 / 130}
    assert forward.energy_efficiency == {p: 2.0 for p in POLICIES}
    assert forward.terms.model_dump() == {
        "total": 320,
        "zero": 120,
        "out_of_bounds": 40,
        "processed": 160,
    }
    assert total.op == "total" and total.macs == 700
    assert total.speedup["tile"] == (40 + 120 + 80 + 40) / (20 + 120 + 40 + 20)
    assert total.terms.total == 80 * 7


def test_missing_policy_and_empty_op_are_simulation_errors() -> None:
    record = _record("conv1", "forward", 1)
    record["cycles"] = {"tile": 1}
    with pytest.raises(SimulationError, match=r"cycles lacks sync policies \['row', 'ideal'\]"):
        aggregate_records([record], "forward", POLICIES)
    with pytest.raises(SimulationError, match="no simulation records for op 'total'"):
        ops_from_simulation({"records": []}, POLICIES)


def test_iso_area_sweep_scales_compute_bound() -> None:
    _, total = ops_from_simulation(_simulation(), POLICIES)
    points = iso_area_sweep(total, simulated_ratio=2.0, ratios=(1.0, 2.0, 4.0))
    assert [p.area_ratio for p in points] == [1.0, 2.0, 4.0]
    assert points[1].speedup == total.speedup
    assert points[0].speedup["row"] == total.speedup["row"] / 2
    assert points[2].speedup["ideal"] == total.speedup["ideal"] * 2


def test_codec_bits_per_value_per_class() -> None:
    entries = [
        {"tensor_class": "weights", "values": 100, "bits": 900},
        {"tensor_class": "activations", "values": 300, "bits": 2400},
        {"tensor_class": "weights", "values": 100, "bits": 1100},
        {"tensor_class": "gradients", "values": 0, "bits": 0},
    ]
    results = codec_results(entries)
    assert [(r.tensor_class, r.values, r.bits_per_value) for r in results] == [
        ("weights", 200, 10.0),
        ("activations", 300, 8.0),
    ]


def test_build_variant_validates_as_a_report_record() -> None:
    variant = build_variant(
        "integer_bits",
        accuracy=0.5,
        train_seconds=1.0,
        layers=[{"layer": "conv1", "weight_bits": 4.0, "activation_bits": 5.0}],
        simulation=_simulation(),
        codec_entries=[{"tensor_class": "weights", "values": 4, "bits": 30}],
        policies=POLICIES,
        simulated_ratio=2.0,
        bits_kind="integer",
    )
    assert variant.label == "learned integer bits"
    assert variant.layers[0].weight_bits == 4.0 and variant.layers[0].gradient_bits is None
    assert variant.codec[0].bits_per_value == 7.5
    assert len(variant.iso_area_sweep) == 6


def _simulator_record(op: str, cycles: float) -> dict:
    """A record shaped like thrifty.hw's OpResult.to_dict (energy breakdowns, float terms)."""
    return {
        "layer": "all",
        "op": op,
        "macs": 1000,
        "cycles": {"tile": cycles, "row": cycles * 0.8, "ideal": cycles * 0.5},
        "baseline_cycles": {"tile": 400.0, "row": 400.0, "ideal": 400.0},
        "energy_pj": {"term_cycles": 3.0, "leakage": 1.0, "total_pj": 4.0},
        "baseline_energy_pj": {"mac": 10.0, "total_pj": 10.0},
        "terms": {"total": 99.9, "zero": 40.4, "out_of_bounds": 10.6, "processed": 48.9},
        "sweep_speedup": {"2.0": 2.0, "1.0": 1.0},
    }


def test_simulator_totals_breakdowns_and_sweep_are_used() -> None:
    simulation = {
        "layers": [],  # ignored: the simulator's own by_op and total come first
        "by_op": {
            "forward": _simulator_record("forward", 200.0),
            "backward_weight": _simulator_record("backward_weight", 100.0),
        },
        "total": _simulator_record("total", 160.0),
        "area": {"ratio": 1.8},
    }
    ops, total = ops_from_simulation(simulation, POLICIES)
    assert [op.op for op in ops] == ["forward", "backward_weight"]
    assert ops[1].speedup == {"tile": 4.0, "row": 5.0, "ideal": 8.0}
    assert total.energy_efficiency == {p: 2.5 for p in POLICIES}
    # Sampled (fractional) term estimates become whole counts that still add up.
    assert total.terms.model_dump() == {
        "total": 100,
        "zero": 40,
        "out_of_bounds": 11,
        "processed": 49,
    }
    variant = build_variant("float32", 0.5, 1.0, [], simulation, [], POLICIES, simulated_ratio=1.8)
    assert [(p.area_ratio, p.speedup) for p in variant.iso_area_sweep] == [
        (1.0, {"tile": 1.0}),
        (2.0, {"tile": 2.0}),
    ]


def test_codec_class_names_of_the_codec_are_accepted() -> None:
    results = codec_results(
        [
            {"tensor_class": "gradient", "values": 4, "bits": 36},
            {"tensor_class": "gradients", "values": 4, "bits": 28},
        ]
    )
    assert [(r.tensor_class, r.bits_per_value) for r in results] == [("gradients", 8.0)]
