"""Energy of one operation on the term-serial accelerator and on the bit-parallel baseline.

Pure functions of activity counts (from the PE and tile models) and the per-event table
`EnergyConfig` (pJ). Both accelerators run the same dataflow, so they move the same on-chip
and off-chip bits; they differ in compute energy and in leakage (area × time):

term-serial  = terms·(shifter + tree input) + idle lane-cycles·idle + lane-steps·exponent
               + PE-steps·accumulator + leakage + SRAM bits·sram + off-chip bits·dram
bit-parallel = lane-steps·(multiplier + shifter + tree input) + lane-steps·exponent
               + PE-steps·accumulator + leakage + SRAM bits·sram + off-chip bits·dram

A lane-step is one lane of one PE in one step (zero operands included: the baseline does not
gate them); idle lane-cycles are the term-serial lane-cycles with no term to add
(PE cycles × lanes − terms). Leakage = PEs × cycles × PE area (kGE) × leakage per kGE-cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

from thrifty.hw.config import EnergyConfig


@dataclass(frozen=True)
class Activity:
    """What an operation did, counted over all its PEs (all additive)."""

    pe_steps: int
    lanes: int
    terms_processed: float
    pe_cycles: float
    sram_bits: int
    offchip_bits: int


def term_serial_energy(
    activity: Activity, cycles: float, pes: int, pe_area_ge: float, table: EnergyConfig
) -> dict[str, float]:
    """Energy breakdown (pJ) of the term-serial accelerator; `cycles` is the operation's time."""
    a = activity
    idle_lane_cycles = max(0.0, a.pe_cycles * a.lanes - a.terms_processed)
    return {
        "lanes_pj": a.terms_processed * (table.shifter_pj + table.adder_tree_input_pj),
        "idle_lanes_pj": idle_lane_cycles * table.idle_lane_pj,
        "exponent_pj": a.pe_steps * a.lanes * table.exponent_lane_pj,
        "accumulator_pj": a.pe_steps * table.accumulator_pj,
        "leakage_pj": pes * cycles * pe_area_ge / 1000.0 * table.leakage_pj_per_kge_cycle,
        "sram_pj": a.sram_bits * table.sram_bit_pj,
        "dram_pj": a.offchip_bits * table.dram_bit_pj,
    }


def bit_parallel_energy(
    activity: Activity, cycles: float, pes: int, pe_area_ge: float, table: EnergyConfig
) -> dict[str, float]:
    """Energy breakdown (pJ) of the bit-parallel bfloat16 baseline."""
    a = activity
    lane_pj = table.multiplier_pj + table.shifter_pj + table.adder_tree_input_pj
    return {
        "lanes_pj": a.pe_steps * a.lanes * lane_pj,
        "idle_lanes_pj": 0.0,
        "exponent_pj": a.pe_steps * a.lanes * table.exponent_lane_pj,
        "accumulator_pj": a.pe_steps * table.accumulator_pj,
        "leakage_pj": pes * cycles * pe_area_ge / 1000.0 * table.leakage_pj_per_kge_cycle,
        "sram_pj": a.sram_bits * table.sram_bit_pj,
        "dram_pj": a.offchip_bits * table.dram_bit_pj,
    }


__all__ = ["Activity", "bit_parallel_energy", "term_serial_energy"]
