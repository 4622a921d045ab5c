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
