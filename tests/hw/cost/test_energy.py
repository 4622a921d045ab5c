"""Energy per event, the hand-count area model and the iso-area tile count, checked by hand."""

from __future__ import annotations

import math

import pytest

from thrifty.hw.config import AreaConfig, EnergyConfig
from thrifty.hw.cost.area import (
    bit_parallel_pe_area,
    fma_unit_area,
    iso_area_tiles,
    per_lane_fma_pe_area,
    term_serial_pe_area,
)
from thrifty.hw.cost.energy import (
    Activity,
    bit_parallel_energy,
    energy_split,
    per_lane_fma_energy,
    term_serial_energy,
)


def test_energy_breakdowns_by_hand():
    table = EnergyConfig()
    act = Activity(pe_steps=10, lanes=8, terms_processed=50, pe_cycles=20, sram_bits=1000,
                   offchip_bits=64)  # fmt: skip
    ts = term_serial_energy(act, cycles=30, pes=4, pe_area_ge=5000, table=table)
    assert ts["lanes_pj"] == pytest.approx(50 * (0.03 + 0.1))
    assert ts["idle_lanes_pj"] == pytest.approx((20 * 8 - 50) * 0.01)
    assert ts["exponent_pj"] == pytest.approx(10 * 8 * 0.06)
    assert ts["accumulator_pj"] == pytest.approx(10 * 0.9)
    assert ts["leakage_pj"] == pytest.approx(4 * 30 * 5.0 * 0.02)
    assert ts["sram_pj"] == pytest.approx(1000 * 0.3125)
    assert ts["dram_pj"] == pytest.approx(64 * 20.3)
    bp = bit_parallel_energy(act, cycles=10, pes=2, pe_area_ge=9000, table=table)
    assert bp["lanes_pj"] == pytest.approx(10 * 8 * (0.2 + 0.03 + 0.1))
    assert bp["leakage_pj"] == pytest.approx(2 * 10 * 9.0 * 0.02)
    assert bp["sram_pj"] == ts["sram_pj"] and bp["dram_pj"] == ts["dram_pj"]


def test_per_lane_fma_energy_and_split_by_hand():
    table = EnergyConfig()
    act = Activity(pe_steps=10, lanes=8, terms_processed=50, pe_cycles=20, sram_bits=1000,
                   offchip_bits=64, outputs=3)  # fmt: skip
    fma = per_lane_fma_energy(act, cycles=10, pes=2, pe_area_ge=12000, table=table)
    assert fma["lanes_pj"] == pytest.approx(10 * 8 * (1.1 + 0.9))
    assert fma["accumulator_pj"] == pytest.approx(3 * 7 * 0.9)  # lane sums, once per output
    assert fma["exponent_pj"] == fma["idle_lanes_pj"] == 0.0
    assert fma["leakage_pj"] == pytest.approx(2 * 10 * 12.0 * 0.02)
    split = energy_split(fma)
    assert split == {
        "compute_pj": pytest.approx(10 * 8 * 2.0 + 3 * 7 * 0.9 + 2 * 10 * 12.0 * 0.02),
        "sram_pj": pytest.approx(1000 * 0.3125),
        "dram_pj": pytest.approx(64 * 20.3),
    }
    assert sum(split.values()) == pytest.approx(sum(fma.values()))


def test_area_model_components_and_ratio():
    cfg = AreaConfig()
    ge = {"fa": 4.256 / 0.798, "and2": 1.064 / 0.798, "mux2": 1.862 / 0.798}
    bp = bit_parallel_pe_area(cfg, lanes=8, window=27)
    assert bp.components_ge["multipliers"] == pytest.approx(8 * (64 * ge["and2"] + 56 * ge["fa"]))
    assert bp.components_ge["aligners"] == pytest.approx(8 * 16 * 5 * ge["mux2"])
    ts = term_serial_pe_area(cfg, lanes=8, window=27, row_pes=8)
    assert ts.components_ge["aligners"] == pytest.approx(8 * 8 * 6 * ge["mux2"])
    assert ts.components_ge["adder_tree"] == bp.components_ge["adder_tree"]
    assert 1.0 < bp.total_ge / ts.total_ge < 3.0
    unit = fma_unit_area(cfg, window=27)
    assert unit.components_ge["multiplier"] == bp.components_ge["multipliers"] / 8
    assert unit.components_ge["aligner"] == pytest.approx(27 * 5 * ge["mux2"])
    assert unit.components_ge["registers"] == pytest.approx(64 * 4.522 / 0.798)
    fma = per_lane_fma_pe_area(cfg, lanes=8, window=27)
    assert fma.total_ge == pytest.approx(8 * unit.total_ge)


@pytest.mark.parametrize(("tiles", "ratio", "want"), [(4, 1.56, 6), (4, 1.0, 4), (1, 0.5, 1),
                                                     (3, 1 / 3 * 2, 2)])  # fmt: skip
def test_iso_area_tiles(tiles, ratio, want):
    assert iso_area_tiles(tiles, ratio) == want == max(1, math.floor(tiles * ratio + 1e-9))
