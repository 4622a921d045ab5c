"""Energy of one operation on the term-serial accelerator and on both bit-parallel baselines.

Pure functions of activity counts (from the PE and tile models) and the per-event table
`EnergyConfig` (pJ). The accelerators run the same dataflow, so they move the same on-chip
bits (and the same off-chip bits, unless only one uses the codec); they differ in compute
energy and in leakage (area × time):

term-serial  = terms·(shifter + tree input) + idle lane-cycles·idle + lane-steps·exponent
               + PE-steps·accumulator + leakage + SRAM bits·sram + off-chip bits·dram
dot product  = lane-steps·(multiplier + shifter + tree input) + lane-steps·exponent
               + PE-steps·accumulator + leakage + SRAM bits·sram + off-chip bits·dram
per-lane FMA = lane-steps·(fma multiply + fma add) + outputs·(lanes − 1)·fma add
               + leakage + SRAM bits·sram + off-chip bits·dram

(a per-lane FMA PE keeps one float32 sum per lane and adds the lane sums once per output).
Architects read the total in three parts (`energy_split`): compute (the PE: every term but
SRAM and DRAM, leakage included), on-chip (SRAM) and off-chip (DRAM).

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
    outputs: int = 0


def _leakage_and_memory(
    a: Activity, cycles: float, pes: int, pe_area_ge: float, table: EnergyConfig
) -> dict[str, float]:
    """The entries every design pays the same way: leakage by area and time, SRAM and DRAM bits."""
    return {
        "leakage_pj": pes * cycles * pe_area_ge / 1000.0 * table.leakage_pj_per_kge_cycle,
        "sram_pj": a.sram_bits * table.sram_bit_pj,
        "dram_pj": a.offchip_bits * table.dram_bit_pj,
    }


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
        **_leakage_and_memory(a, cycles, pes, pe_area_ge, table),
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
        **_leakage_and_memory(a, cycles, pes, pe_area_ge, table),
    }


def per_lane_fma_energy(
    activity: Activity, cycles: float, pes: int, pe_area_ge: float, table: EnergyConfig
) -> dict[str, float]:
    """Energy breakdown (pJ) of the per-lane FMA baseline (one rounding per MAC)."""
    a = activity
    return {
        "lanes_pj": a.pe_steps * a.lanes * (table.fma_multiply_pj + table.fma_add_pj),
        "idle_lanes_pj": 0.0,
        "exponent_pj": 0.0,  # inside each FMA unit's multiply
        "accumulator_pj": a.outputs * max(0, a.lanes - 1) * table.fma_add_pj,
        **_leakage_and_memory(a, cycles, pes, pe_area_ge, table),
    }


@dataclass(frozen=True)
class IntegerActivity:
    """What one integer inference layer did on the three integer designs (all additive).

    pe_steps: (PE, step) pairs, padding steps included; terms: activation terms the term-serial
    lanes added; term_serial_pe_cycles / bit_serial_pe_cycles: Σ over PEs of their own cycles;
    sram_bits: on-chip buffer bits read (the same for the three designs).
    """

    pe_steps: int
    lanes: int
    terms: float
    term_serial_pe_cycles: float
    bit_serial_pe_cycles: float
    sram_bits: float


def integer_energy(activity: IntegerActivity, table: EnergyConfig) -> dict[str, dict[str, float]]:
    """Energy breakdown (pJ) of the integer term-serial, bit-serial and bit-parallel designs.

    term-serial  = terms·(shifter + int tree input) + idle lane-cycles·idle + PE cycles·int acc
    bit-serial   = PE cycles·lanes·int tree input (one AND-gated weight per lane and cycle,
                   zero bits included) + PE cycles·int acc
    bit-parallel = lane-steps·(multiplier + int tree input) + PE steps·int acc
    each + SRAM bits·sram. No leakage (no synthesized integer PE area yet) and no DRAM.
    """
    a = activity
    sram = a.sram_bits * table.sram_bit_pj
    tree = table.int_adder_tree_input_pj
    parts = {
        "term_serial": {
            "lanes_pj": a.terms * (table.shifter_pj + tree),
            "idle_lanes_pj": max(0.0, a.term_serial_pe_cycles * a.lanes - a.terms)
            * table.idle_lane_pj,
            "accumulator_pj": a.term_serial_pe_cycles * table.int_accumulator_pj,
        },
        "bit_serial": {
            "lanes_pj": a.bit_serial_pe_cycles * a.lanes * tree,
            "idle_lanes_pj": 0.0,
            "accumulator_pj": a.bit_serial_pe_cycles * table.int_accumulator_pj,
        },
        "bit_parallel": {
            "lanes_pj": a.pe_steps * a.lanes * (table.multiplier_pj + tree),
            "idle_lanes_pj": 0.0,
            "accumulator_pj": a.pe_steps * table.int_accumulator_pj,
        },
    }
    out = {}
    for design, compute in parts.items():
        compute_pj = float(sum(compute.values()))
        out[design] = {**{k: float(v) for k, v in compute.items()}, "compute_pj": compute_pj,
                       "sram_pj": float(sram), "total_pj": compute_pj + float(sram)}  # fmt: skip
    return out


#: The energy of each baseline, by name (HardwareConfig.baseline).
BASELINE_ENERGY = {"dot_product": bit_parallel_energy, "per_lane_fma": per_lane_fma_energy}


def energy_split(breakdown: dict[str, float]) -> dict[str, float]:
    """Compute (PE, leakage included), on-chip (SRAM) and off-chip (DRAM) energy (pJ)."""
    memory = ("sram_pj", "dram_pj")
    return {
        "compute_pj": float(sum(v for k, v in breakdown.items() if k not in memory)),
        "sram_pj": float(breakdown["sram_pj"]),
        "dram_pj": float(breakdown["dram_pj"]),
    }


__all__ = [
    "BASELINE_ENERGY",
    "Activity",
    "IntegerActivity",
    "bit_parallel_energy",
    "energy_split",
    "integer_energy",
    "per_lane_fma_energy",
    "term_serial_energy",
]
