"""Both baselines and both off-chip formats in one record: tile counts, cycles, energy split.

A synthesis table written by the test fixes the ratios (2.0 against the dot-product PE,
4000 / 1050 against the per-lane FMA PE), so the iso-area tile counts are worked by hand.
"""

from __future__ import annotations

import json

import pytest

from tests.hw.cost.test_synthesis import _full
from tests.hw.sim.test_simulation import _tiny_conv
from thrifty.hw.config import HardwareConfig
from thrifty.hw.cost.energy import energy_split
from thrifty.hw.sim.operation import simulate_operation
from thrifty.hw.sim.simulation import simulate_entries

POLICIES = ("tile", "row", "ideal")


def _config(table, **sections):
    base = {
        "tile": {"rows": 2, "cols": 8, "tiles": 2, "row_buffer_depth": 2},
        "area": {"synthesis_file": str(table)},
        "memory": {"dram_bandwidth_gb_s": 1.0e9},
    }
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return HardwareConfig.model_validate(base)


def _forward(config):
    geometry, tensors = _tiny_conv()
    return simulate_operation("conv", "forward", geometry, tensors, config).result


def test_each_baseline_gets_its_iso_area_tiles(tmp_path):
    table = _full(tmp_path)
    r = _forward(_config(table))
    # Ratios 2.0 and 3.81: T = 2 baseline tiles → 4 and 7 term-serial tiles.
    for baseline, tiles in (("dot_product", 4), ("per_lane_fma", 7)):
        alone = _forward(_config(table, tile={"tiles": tiles}, area={"iso_area": False}))
        for variant in ("uncompressed", "codec"):
            got = r.designs[f"term_serial_vs_{baseline}"][variant]["cycles"]
            assert got == alone.cycles
    # Both baselines do `lanes` MACs per cycle per PE: the same cycles.
    for variant in ("uncompressed", "codec"):
        assert (
            r.designs["dot_product"][variant]["cycles"]
            == r.designs["per_lane_fma"][variant]["cycles"]
        )
        assert r.designs["dot_product"][variant]["cycles"] == r.baseline_cycles


def test_headline_fields_are_one_of_the_designs(tmp_path):
    table = _full(tmp_path)
    for baseline in ("dot_product", "per_lane_fma"):
        for use_codec, variant in ((False, "uncompressed"), (True, "codec")):
            r = _forward(_config(table, baseline=baseline, memory={"use_codec": use_codec}))
            ts = r.designs[f"term_serial_vs_{baseline}"][variant]
            base = r.designs[baseline][variant]
            assert r.cycles == ts["cycles"] and r.baseline_cycles == base["cycles"]
            assert energy_split(r.energy_pj) == {k: ts[k] for k in ("compute_pj", "sram_pj",
                                                                     "dram_pj")}  # fmt: skip
            assert energy_split(r.baseline_energy_pj) == {
                k: base[k] for k in ("compute_pj", "sram_pj", "dram_pj")
            }


def test_energy_split_and_comparisons_by_hand(tmp_path):
    r = _forward(_config(_full(tmp_path)))
    d = r.designs
    bits = r.offchip_bits
    assert bits["codec"] < bits["uncompressed"]
    for design in d.values():
        sram = r.sram_bits * 0.3125
        assert design["uncompressed"]["sram_pj"] == design["codec"]["sram_pj"] == sram
        assert design["uncompressed"]["dram_pj"] == bits["uncompressed"] * 20.3
        assert design["codec"]["dram_pj"] == bits["codec"] * 20.3
    # Per-lane FMA compute: forward of the tiny conv has 2 groups × 18 × 2 outputs of 3 steps:
    # 216 PE-steps of 8 lanes at (1.1 + 0.9) pJ, 72 outputs × 7 lane-sum adds at 0.9 pJ, and
    # leakage of 2 tiles × 16 PEs × cycles × (4000 µm² / 0.798 µm² per GE) / 1000 × 0.02 pJ.
    fma = d["per_lane_fma"]["uncompressed"]
    leakage = 2 * 16 * fma["cycles"]["tile"] * 4000 / 0.798 / 1000 * 0.02
    assert fma["compute_pj"] == pytest.approx(216 * 8 * 2.0 + 72 * 7 * 0.9 + leakage)
    comparisons = r.comparisons
    assert set(comparisons) == {
        f"term_serial{ts} vs {b}{base}"
        for b in ("dot_product", "per_lane_fma")
        for ts, base in (("+codec", ""), ("", ""), ("+codec", "+codec"))
    }
    c = comparisons["term_serial+codec vs per_lane_fma"]
    ts, base = d["term_serial_vs_per_lane_fma"]["codec"], d["per_lane_fma"]["uncompressed"]
    assert c["term_serial_codec"] and not c["baseline_codec"] and c["baseline"] == "per_lane_fma"
    assert c["speedup"] == {p: base["cycles"][p] / ts["cycles"][p] for p in POLICIES}
    assert c["energy_efficiency_compute"] == base["compute_pj"] / ts["compute_pj"]
    assert c["energy_efficiency_compute_sram"] == (base["compute_pj"] + base["sram_pj"]) / (
        ts["compute_pj"] + ts["sram_pj"]
    )
    total = sum(base[k] for k in ("compute_pj", "sram_pj", "dram_pj"))
    assert c["baseline_energy_pj"]["total_pj"] == total
    assert c["energy_efficiency_total"] == total / c["term_serial_energy_pj"]["total_pj"]


def test_records_add_up_and_report_names_the_source(tmp_path, recwarn):
    table = _full(tmp_path)
    geometry, tensors = _tiny_conv()
    entries = [{"layer": "c", "op": op, "geometry": geometry, "tensors": tensors}
               for op in ("forward", "backward_data", "backward_weight")]  # fmt: skip
    sim = simulate_entries(entries, _config(table))
    assert not [w for w in recwarn if "hand count" in str(w.message)]
    want = sum(r.designs["per_lane_fma"]["codec"]["compute_pj"] for r in sim.layers)
    assert sim.total.designs["per_lane_fma"]["codec"]["compute_pj"] == pytest.approx(want)
    data = json.loads(json.dumps(sim.to_dict()))
    area = data["area"]
    assert area["baseline"] == "dot_product" and area["ratio"] == 2.0
    assert (
        area["term_serial_tiles"] == 4
        and area["baselines"]["per_lane_fma"]["term_serial_tiles"] == 7
    )
    assert area["source"].startswith("synthesis (Yosys 0.23 test, library test45")
    assert "term_serial+codec vs dot_product" in data["total"]["comparisons"]
    with pytest.warns(UserWarning, match="dot_product baseline: iso-area ratio from the hand"):
        sim = simulate_entries(entries[:1], _config(table, pe={"lanes": 4}))
    assert sim.to_dict()["area"]["source"].startswith("hand count")
