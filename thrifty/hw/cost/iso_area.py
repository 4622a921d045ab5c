"""The iso-area ratio against each baseline, and where it came from.

For each baseline (`dot_product`: the fused bit-parallel dot-product PE; `per_lane_fma`: `lanes`
conventional bfloat16 multiply + float32 add units) the ratio is baseline PE area / term-serial
PE area: how many term-serial PEs fit in one baseline PE's area. The term-serial PE's area is
its synthesized `term_serial_pe` plus its share of the row's `term_recoder` (`/ tile.cols`).

Source of the areas, per baseline: the synthesis table (`area.synthesis_file`, else the table
thrifty ships) when it holds records matching the PE config for every design involved; else the
hand-count model (`thrifty.hw.cost.area`), with a note saying why. The hand count is always
computed beside, as a cross-check. `area.ratio_override` replaces the headline baseline's ratio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from thrifty.hw.config import BASELINES, HardwareConfig
from thrifty.hw.cost.area import (
    PEArea,
    bit_parallel_pe_area,
    per_lane_fma_pe_area,
    term_serial_pe_area,
)
from thrifty.hw.cost.synthesis import SynthesisTable, load_synthesis_table


@dataclass(frozen=True)
class AreaSource:
    """Where a ratio's areas came from: a synthesis table, the hand count, or an override."""

    kind: str  # "synthesis" | "hand_count" | "override"
    library: str | None = None
    yosys_version: str | None = None
    table: str | None = None
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # design → its params
    reason: str = ""

    def describe(self) -> str:
        """One line a report prints beside the ratio."""
        if self.kind == "synthesis":
            designs = "; ".join(
                f"{d} {', '.join(f'{k}={v}' for k, v in p.items())}" for d, p in self.params.items()
            )
            return f"synthesis ({self.yosys_version}, library {self.library}; {designs})"
        if self.kind == "override":
            return f"override (area.ratio_override; {self.reason})"
        return f"hand count (thrifty.hw.cost.area, Nangate 45 nm cell areas; {self.reason})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready provenance, with the one-line description."""
        return {
            "kind": self.kind,
            "library": self.library,
            "yosys_version": self.yosys_version,
            "table": self.table,
            "params": self.params,
            "reason": self.reason,
            "description": self.describe(),
        }


@dataclass(frozen=True)
class BaselineArea:
    """One baseline's PE area beside the term-serial PE's, and the ratio in force."""

    baseline: str
    term_serial_pe_um2: float
    baseline_pe_um2: float
    ratio: float
    measured_ratio: float
    hand_count_ratio: float
    source: AreaSource

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (µm² and ratios)."""
        return {
            "baseline": self.baseline,
            "term_serial_pe_um2": self.term_serial_pe_um2,
            "baseline_pe_um2": self.baseline_pe_um2,
            "ratio": self.ratio,
            "measured_ratio": self.measured_ratio,
            "hand_count_ratio": self.hand_count_ratio,
            "source": self.source.to_dict(),
        }


@dataclass(frozen=True)
class AreaReport:
    """Ratios against both baselines, the headline one, the hand count and any notes."""

    headline: str
    baselines: dict[str, BaselineArea]
    hand_count_ge: dict[str, PEArea]  # "term_serial", "dot_product", "per_lane_fma"
    nand2_um2: float
    notes: tuple[str, ...] = ()

    @property
    def ratio(self) -> float:
        """Iso-area ratio against the headline baseline."""
        return self.baselines[self.headline].ratio

    def pe_area_ge(self, design: str) -> float:
        """Area of one PE in NAND2 gate equivalents ('term_serial' or a baseline), for leakage."""
        ts = self.baselines[self.headline].term_serial_pe_um2
        if design == "term_serial":
            return ts / self.nand2_um2
        return self.baselines[design].baseline_pe_um2 / self.nand2_um2


def _hand_count(config: HardwareConfig) -> dict[str, PEArea]:
    """Both dot-product PEs at the window in force (the synthesized dot-product PE shares the
    term-serial PE's window and adder tree); an FMA unit is a float32 adder with 3 guard bits
    whatever the window."""
    pe, area = config.pe, config.area
    return {
        "term_serial": term_serial_pe_area(area, pe.lanes, pe.window_bits, config.tile.cols),
        "dot_product": bit_parallel_pe_area(area, pe.lanes, pe.window_bits),
        "per_lane_fma": per_lane_fma_pe_area(area, pe.lanes, pe.accumulator_bits + 3),
    }


def _synthesized(
    table: SynthesisTable, config: HardwareConfig, baseline: str
) -> tuple[float, float, AreaSource] | str:
    """(term-serial µm², baseline µm², source), or why the table cannot give them."""
    pe = config.pe
    need = ["term_serial_pe", "term_recoder",
            "dot_product_pe" if baseline == "dot_product" else "fma_unit"]  # fmt: skip
    found = {d: table.find(d, pe) for d in need}
    missing = [d for d, r in found.items() if r is None]
    if missing:
        return (
            f"{table.path} has no {', '.join(missing)} record matching this PE config "
            f"(lanes={pe.lanes}, accumulator_bits={pe.accumulator_bits}, "
            f"guard_bits={pe.guard_bits}, encoding={pe.encoding})"
        )
    ts = found["term_serial_pe"].area_um2 + found["term_recoder"].area_um2 / config.tile.cols
    if baseline == "dot_product":
        base = found["dot_product_pe"].area_um2
    else:
        base = pe.lanes * found["fma_unit"].area_um2
    source = AreaSource(
        kind="synthesis",
        library=table.library,
        yosys_version=table.yosys_version,
        table=table.path,
        params={d: dict(r.params) for d, r in found.items()},
    )
    return ts, base, source


def area_report(config: HardwareConfig, table: SynthesisTable | None = None) -> AreaReport:
    """Iso-area ratios of `config` against both baselines; `table` defaults to the config's.

    With `area.model = "hand_count"` the synthesis table is not read. Raises ConfigError for a
    malformed or missing user table (`area.synthesis_file`).
    """
    hand = _hand_count(config)
    nand2 = config.area.nand2_um2
    if table is None and config.area.model == "synthesis":
        table = load_synthesis_table(config.area.synthesis_file)
    notes = []
    baselines = {}
    for baseline in BASELINES:
        hand_ratio = hand[baseline].total_ge / hand["term_serial"].total_ge
        if config.area.model == "hand_count":
            got: tuple[float, float, AreaSource] | str = "area.model is 'hand_count'"
        elif table is None:
            got = "no synthesis table ships with this install and area.synthesis_file is unset"
        else:
            got = _synthesized(table, config, baseline)
        if isinstance(got, str):
            ts_um2 = hand["term_serial"].total_ge * nand2
            base_um2 = hand[baseline].total_ge * nand2
            source = AreaSource(kind="hand_count", reason=got)
            if config.area.model == "synthesis":
                notes.append(f"{baseline} baseline: iso-area ratio from the hand count: {got}")
        else:
            ts_um2, base_um2, source = got
        measured = base_um2 / ts_um2
        ratio = measured
        if config.area.ratio_override is not None and baseline == config.baseline:
            ratio = config.area.ratio_override
            source = AreaSource(
                kind="override", reason=f"measured {measured:.3f} from {source.describe()}"
            )
        baselines[baseline] = BaselineArea(
            baseline, ts_um2, base_um2, ratio, measured, hand_ratio, source
        )
    return AreaReport(config.baseline, baselines, hand, nand2, tuple(notes))


__all__ = ["AreaReport", "AreaSource", "BaselineArea", "area_report"]
