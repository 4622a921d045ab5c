"""Energy per event, the area model and the iso-area tile count, checked by hand."""

from __future__ import annotations

import math

import pytest

from thrifty.hw.config import AreaConfig, EnergyConfig
from thrifty.hw.cost.area import (
    area_report,
    bit_parallel_pe_area,
    iso_area_tiles,
    term_serial_pe_area,
)
from thrifty.hw.cost.energy import Activity, bit_parallel_energy, term_serial_energy


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


def test_area_model_components_and_ratio():
    cfg = AreaConfig()
    ge = {"fa": 4.256 / 0.798, "and2": 1.064 / 0.798, "mux2": 1.862 / 0.798}
    bp = bit_parallel_pe_area(cfg, lanes=8, window=27)
    assert bp.components_ge["multipliers"] == pytest.approx(8 * (64 * ge["and2"] + 56 * ge["fa"]))
    assert bp.components_ge["aligners"] == pytest.approx(8 * 16 * 5 * ge["mux2"])
    ts = term_serial_pe_area(cfg, lanes=8, window=27, row_pes=8)
    assert ts.components_ge["aligners"] == pytest.approx(8 * 8 * 6 * ge["mux2"])
    assert ts.components_ge["adder_tree"] == bp.components_ge["adder_tree"]
    report = area_report(cfg, lanes=8, window=27, row_pes=8)
    assert report.model_ratio == pytest.approx(bp.total_ge / ts.total_ge)
    assert 1.0 < report.model_ratio < 3.0
    assert report.ratio == report.model_ratio
    fixed = area_report(AreaConfig(ratio_override=2.5), lanes=8, window=27, row_pes=8)
    assert fixed.ratio == 2.5 and fixed.model_ratio == report.model_ratio


@pytest.mark.parametrize(("tiles", "ratio", "want"), [(4, 1.56, 6), (4, 1.0, 4), (1, 0.5, 1),
                                                     (3, 1 / 3 * 2, 2)])  # fmt: skip
def test_iso_area_tiles(tiles, ratio, want):
    assert iso_area_tiles(tiles, ratio) == want == max(1, math.floor(tiles * ratio + 1e-9))
