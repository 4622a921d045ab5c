"""Component area model of a term-serial PE and of a bit-parallel bfloat16 PE (our reconstruction).

Both PEs reduce `lanes` products per step into a float32 accumulator through the same exponent
block, adder tree and accumulator; they differ in the lanes. In gate equivalents (GE, NAND2 area),
with m significand bits, W = accumulator bits + guard bits (window), e exponent bits, L lanes:

- bit-parallel lane: m × m array multiplier (m² AND2 + m(m−1) FA) and a 2m-bit product aligner
  (2m × ⌈log2 W⌉ MUX2);
- term-serial lane: an aligner of the m-bit parallel significand over W + term positions
  (m × ⌈log2(W + P)⌉ MUX2), a sign inverter (m XOR2) and the out-of-bounds compare
  (⌈log2(W + P)⌉ FA); plus the term recoder, one per lane per tile row, shared by C PEs;
- shared by both: exponent block (L product-exponent adders, L − 1 max comparators with their
  muxes, L alignment subtractors: e-bit each), adder tree (L − 1 W-bit adders), accumulator
  (float add: W-bit aligner and normaliser, W-bit adder, 32-bit register), input registers
  (2 × 16 bits per lane).

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


@dataclass(frozen=True)
class AreaReport:
    """Both PEs' areas and how many term-serial PEs fit in one bit-parallel PE's area."""

    term_serial: PEArea
    bit_parallel: PEArea
    model_ratio: float
    ratio: float


def area_report(config: AreaConfig, lanes: int, window: int, row_pes: int) -> AreaReport:
    """Area of both PEs and the iso-area ratio (`ratio_override` wins over the model)."""
    ts = term_serial_pe_area(config, lanes, window, row_pes)
    bp = bit_parallel_pe_area(config, lanes, window)
    model_ratio = bp.total_ge / ts.total_ge
    ratio = config.ratio_override if config.ratio_override is not None else model_ratio
    return AreaReport(ts, bp, model_ratio, ratio)


def iso_area_tiles(baseline_tiles: int, ratio: float) -> int:
    """Whole term-serial tiles that fit in the compute area of `baseline_tiles` baseline tiles."""
    return max(1, math.floor(baseline_tiles * ratio + 1e-9))


__all__ = [
    "AreaReport",
    "PEArea",
    "area_report",
    "bit_parallel_pe_area",
    "iso_area_tiles",
    "term_serial_pe_area",
]
