"""Hand-count area model of the term-serial PE and of both baselines (our reconstruction).

The simulator takes its iso-area ratio from synthesized areas (`thrifty.hw.cost.synthesis`);
this model is the documented cross-check beside them, and the fallback for a PE config the
synthesis table does not cover.

Both PEs reduce `lanes` products per step into a float32 accumulator through the same exponent
block, adder tree and accumulator; they differ in the lanes. In gate equivalents (GE, NAND2 area),
with m significand bits, W = accumulator bits + guard bits (window), e exponent bits, L lanes:

- bit-parallel lane: m × m array multiplier (m² AND2 + m(m−1) FA) and a 2m-bit product aligner
  (2m × ⌈log2 W⌉ MUX2);
- term-serial lane: an aligner of the m-bit parallel significand over W + term positions
  (m × ⌈log2(W + P)⌉ MUX2), a sign inverter (m XOR2) and the out-of-bounds compare
  (⌈log2(W + P)⌉ FA); plus the term recoder, one per lane per tile row, shared by C PEs;
- per-lane FMA unit (the `per_lane_fma` baseline: one bfloat16 multiply + float32 add per
  cycle, a baseline PE is L of them): m × m multiplier, 2e exponent adders and an e-bit max
  mux, a W-bit alignment shifter, W-bit adder, leading-zero count and normalising shifter
  (W × ⌈log2 W⌉ MUX2 each), a 24-bit rounding incrementer, a 32-bit accumulator register and
  2 × 16 input register bits;
- shared by the term-serial and dot-product PEs: exponent block (L product-exponent adders,
  L − 1 max comparators with their muxes, L alignment subtractors: e-bit each), adder tree
  (L − 1 W-bit adders), accumulator (float add: W-bit aligner and normaliser, W-bit adder,
  32-bit register), input registers (2 × 16 bits per lane).

Cell areas come from `AreaConfig` (Nangate 45 nm OCL). The model omits wiring and control, so it
gives a ratio, not an absolute area (docs/simulator.md, "limits").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from thrifty.hw.config import AreaConfig


@dataclass(frozen=True)
class PEArea:
    """Area of one PE by component (GE) and the total."""

    components_ge: dict[str, float]

    @property
    def total_ge(self) -> float:
        """Sum of the components (GE)."""
        return float(sum(self.components_ge.values()))


def _cells(config: AreaConfig) -> dict[str, float]:
    ge = config.nand2_um2
    return {
        "and2": config.and2_um2 / ge,
        "xor2": config.xor2_um2 / ge,
        "mux2": config.mux2_um2 / ge,
        "fa": config.full_adder_um2 / ge,
        "dff": config.flip_flop_um2 / ge,
    }


def _shared(config: AreaConfig, lanes: int, window: int) -> dict[str, float]:
    c = _cells(config)
    e = config.exponent_bits
    stages = math.ceil(math.log2(window))
    return {
        "exponent_block": lanes * e * c["fa"]  # product exponents
        + (lanes - 1) * e * (c["fa"] + c["mux2"])  # max tree
        + lanes * e * c["fa"],  # alignment differences
        "adder_tree": (lanes - 1) * window * c["fa"],
        "accumulator": 2 * window * stages * c["mux2"] + window * c["fa"] + 32 * c["dff"],
        "input_registers": lanes * 2 * 16 * c["dff"],
    }


def bit_parallel_pe_area(config: AreaConfig, lanes: int, window: int) -> PEArea:
    """Area of a bit-parallel bfloat16 PE of `lanes` lanes and a `window`-bit accumulator."""
    c = _cells(config)
    m = config.significand_bits
    per_lane = m * m * c["and2"] + m * (m - 1) * c["fa"]
    align = 2 * m * math.ceil(math.log2(window)) * c["mux2"]
    return PEArea(
        {
            "multipliers": lanes * per_lane,
            "aligners": lanes * align,
            **_shared(config, lanes, window),
        }
    )


def term_serial_pe_area(config: AreaConfig, lanes: int, window: int, row_pes: int) -> PEArea:
    """Area of a term-serial PE; the row's term recoders are shared by its `row_pes` PEs."""
    c = _cells(config)
    m = config.significand_bits
    stages = math.ceil(math.log2(window + config.term_positions))
    encoder = config.encoder_cells_per_position * config.term_positions
    return PEArea(
        {
            "aligners": lanes * m * stages * c["mux2"],
            "term_sign": lanes * m * c["xor2"],
            "out_of_bounds": lanes * stages * c["fa"],
            "term_recoders": lanes * encoder / row_pes,
            **_shared(config, lanes, window),
        }
    )


def fma_unit_area(config: AreaConfig, window: int) -> PEArea:
    """Area of one bfloat16 × bfloat16 multiply + float32 add unit (one MAC per cycle)."""
    c = _cells(config)
    m, e = config.significand_bits, config.exponent_bits
    stages = math.ceil(math.log2(window))
    return PEArea(
        {
            "multiplier": m * m * c["and2"] + m * (m - 1) * c["fa"],
            "exponent": 2 * e * c["fa"] + e * c["mux2"],
            "aligner": window * stages * c["mux2"],
            "adder": window * c["fa"],
            "normaliser": window * stages * c["mux2"] + window * c["and2"],
            "rounding": 24 * c["fa"],
            "registers": (32 + 2 * 16) * c["dff"],
        }
    )


def per_lane_fma_pe_area(config: AreaConfig, lanes: int, window: int) -> PEArea:
    """Area of a per-lane FMA baseline PE: `lanes` FMA units."""
    unit = fma_unit_area(config, window)
    return PEArea({f"fma_units_{k}": lanes * v for k, v in unit.components_ge.items()})


def iso_area_tiles(baseline_tiles: int, ratio: float) -> int:
    """Whole term-serial tiles that fit in the compute area of `baseline_tiles` baseline tiles."""
    return max(1, math.floor(baseline_tiles * ratio + 1e-9))


__all__ = [
    "PEArea",
    "bit_parallel_pe_area",
    "fma_unit_area",
    "iso_area_tiles",
    "per_lane_fma_pe_area",
    "term_serial_pe_area",
]
