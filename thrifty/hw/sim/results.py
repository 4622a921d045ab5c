"""Immutable, additive simulation records: one per layer × operation, summed into a total.

Every stored field is a count that adds up across operations run one after another (cycles,
terms, bits, picojoules, variances of sampled estimates); ratios (speedup, energy efficiency)
and confidence intervals are derived from the sums, never stored, so a network's record is
exactly the sum of its layers' records. Units are in the key names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from statistics import NormalDist
from typing import Any

from thrifty.hw.config import BASELINES

TERM_CLASSES: tuple[str, ...] = ("zero", "out_of_bounds", "processed")
"""The classes every term slot of a serial operand falls in (`OpResult.terms` adds `total`)."""

SWEEP_POLICY = "tile"
"""The sync policy of the iso-area sweep (`OpResult.sweep_cycles`)."""


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, Mapping):
        return {key: _add(a[key], b[key]) for key in a}
    if a is None or b is None:
        return None
    return a + b


@dataclass(frozen=True)
class OpResult:
    """Simulation of one training operation of one layer (or a sum of them).

    cycles / baseline_cycles: per sync policy, max(compute, off-chip) per operation (roofline);
    compute_cycles / baseline_compute_cycles: the compute bounds alone.
    cycles_variance: per policy, variance of the sampled compute-cycle estimate (0 if exact).
    sweep_cycles: `tile`-policy cycles at each iso-area ratio of the sweep.
    terms: total, zero, out_of_bounds, processed terms of the serial operand.
    The fields above compare the term-serial accelerator with the headline baseline
    (`HardwareConfig.baseline`), both charging off-chip traffic as `memory.use_codec` says.
    designs: every design × off-chip format, for the comparisons against both baselines:
    {design: {"uncompressed" | "codec": {"cycles": {policy: cycles}, "compute_pj", "sram_pj",
    "dram_pj"}}}, design one of `term_serial_vs_<baseline>` (the term-serial accelerator at
    iso area with that baseline) or a baseline name.
    kind: what was multiplied (`thrifty.hw.sim.dataflow.operation_kind`): conv, linear,
    attention_qk, attention_av or matmul ("mixed" in a sum over several).
    """

    layer: str
    op: str
    serial_operand: str
    macs: int
    output_tiles: int
    compute_cycles: dict[str, float]
    cycles: dict[str, float]
    baseline_cycles: dict[str, float]
    baseline_compute_cycles: float
    memory_cycles: float
    cycles_variance: dict[str, float]
    sweep_cycles: dict[str, float]
    sweep_baseline_cycles: float
    terms: dict[str, float]
    energy_pj: dict[str, float]
    baseline_energy_pj: dict[str, float]
    sram_bits: int
    offchip_bits: dict[str, int | None]
    sampled_fraction: float = 1.0
    oracle_terms: dict[str, float] = field(default_factory=dict)
    designs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    kind: str = "layer"
    epoch: int | None = None
    step: int | None = None

    def __add__(self, other: OpResult) -> OpResult:
        values = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name in ("layer", "op", "serial_operand", "kind"):
                values[f.name] = a if a == b else "mixed"
            elif f.name in ("epoch", "step"):
                values[f.name] = a if a == b else None
            elif f.name == "sampled_fraction":
                values[f.name] = min(a, b)
            elif f.name == "oracle_terms":
                values[f.name] = {}
            else:
                values[f.name] = _add(a, b)
        return OpResult(**values)

    @property
    def speedup(self) -> dict[str, float]:
        """Baseline cycles over term-serial cycles, per sync policy."""
        return {p: _ratio(self.baseline_cycles[p], c) for p, c in self.cycles.items()}

    @property
    def energy_total_pj(self) -> float:
        """Total term-serial energy (pJ)."""
        return float(sum(self.energy_pj.values()))

    @property
    def baseline_energy_total_pj(self) -> float:
        """Total baseline energy (pJ)."""
        return float(sum(self.baseline_energy_pj.values()))

    @property
    def energy_efficiency(self) -> float:
        """Baseline energy over term-serial energy (> 1: the term-serial design saves energy)."""
        return _ratio(self.baseline_energy_total_pj, self.energy_total_pj)

    @property
    def comparisons(self) -> dict[str, dict[str, Any]]:
        """The named comparisons of `designs` (see `compare_designs`)."""
        return compare_designs(self.designs)

    def cycles_interval(self, confidence: float) -> dict[str, list[float]]:
        """Normal-approximation interval of the cycles per policy (zero width when exact)."""
        z = NormalDist().inv_cdf(0.5 + confidence / 2)
        out = {}
        for policy, value in self.cycles.items():
            half = z * math.sqrt(max(0.0, self.cycles_variance[policy]))
            floor = self.memory_cycles if value == self.memory_cycles else 0.0
            out[policy] = [max(value - half, floor), value + half]
        return out

    def to_dict(self, confidence: float = 0.95) -> dict[str, Any]:
        """JSON-ready record, with the derived ratios and intervals added."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["speedup"] = self.speedup
        data["energy_pj"] = {**self.energy_pj, "total_pj": self.energy_total_pj}
        data["baseline_energy_pj"] = {
            **self.baseline_energy_pj,
            "total_pj": self.baseline_energy_total_pj,
        }
        data["energy_efficiency"] = self.energy_efficiency
        data["sweep_speedup"] = {
            ratio: _ratio(self.sweep_baseline_cycles, c) for ratio, c in self.sweep_cycles.items()
        }
        data["comparisons"] = self.comparisons
        data["cycles_interval"] = self.cycles_interval(confidence)
        data["confidence"] = confidence
        return data


#: Which off-chip format each side of a comparison uses: (term-serial, baseline).
COMPARISON_VARIANTS: tuple[tuple[str, str], ...] = (
    ("codec", "uncompressed"),
    ("uncompressed", "uncompressed"),
    ("codec", "codec"),
)


def _energy(run: Mapping[str, Any]) -> dict[str, float]:
    parts = {k: float(run[k]) for k in ("compute_pj", "sram_pj", "dram_pj")}
    return {**parts, "total_pj": sum(parts.values())}


def compare_designs(designs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Speedup and energy efficiency of the term-serial design against each baseline.

    One entry per baseline and pair of off-chip formats, named like
    "term_serial+codec vs dot_product" (`+codec`: that design's off-chip traffic is
    delta-encoded): the term-serial design with its codec and without, against the baseline
    without; and both with the codec. Efficiency = baseline energy / term-serial energy, for
    compute alone, compute + SRAM, and the total (compute + SRAM + DRAM).
    """
    out: dict[str, dict[str, Any]] = {}
    for baseline in BASELINES:
        ts_key = f"term_serial_vs_{baseline}"
        if baseline not in designs or ts_key not in designs:
            continue
        for ts_variant, base_variant in COMPARISON_VARIANTS:
            ts, base = designs[ts_key][ts_variant], designs[baseline][base_variant]
            te, be = _energy(ts), _energy(base)
            name = (f"term_serial{'+codec' if ts_variant == 'codec' else ''} vs {baseline}"
                    f"{'+codec' if base_variant == 'codec' else ''}")  # fmt: skip
            out[name] = {
                "baseline": baseline,
                "term_serial_codec": ts_variant == "codec",
                "baseline_codec": base_variant == "codec",
                "speedup": {p: _ratio(base["cycles"][p], c) for p, c in ts["cycles"].items()},
                "energy_efficiency_compute": _ratio(be["compute_pj"], te["compute_pj"]),
                "energy_efficiency_compute_sram": _ratio(
                    be["compute_pj"] + be["sram_pj"], te["compute_pj"] + te["sram_pj"]
                ),
                "energy_efficiency_total": _ratio(be["total_pj"], te["total_pj"]),
                "term_serial_energy_pj": te,
                "baseline_energy_pj": be,
            }
    return out


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


def total(results: Iterable[OpResult], layer: str = "total") -> OpResult:
    """Sum of the records (a network's record is the sum of its layers')."""
    items = list(results)
    if not items:
        raise ValueError("total() needs at least one record")
    out = items[0]
    for item in items[1:]:
        out = out + item
    return OpResult(**{**{f.name: getattr(out, f.name) for f in fields(out)}, "layer": layer})


__all__ = [
    "COMPARISON_VARIANTS",
    "SWEEP_POLICY",
    "TERM_CLASSES",
    "OpResult",
    "compare_designs",
    "total",
]
