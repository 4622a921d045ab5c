"""Turn the stages' outputs (simulation.json, codec statistics, layer bits) into report records.

The simulator writes one record per layer × training operation, with cycles and speedup as
mappings by sync policy, energies, and term statistics (see `thrifty simulate`). Here they
are summed per operation and over the whole training step; a ratio of sums (Σ baseline / Σ
term-serial) is the speedup of running all those layers, unlike a mean of per-layer ratios.
The key names the simulator uses are the constants below, so a rename there is one edit here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from thrifty.errors import SimulationError
from thrifty.quickstart.schema import (
    TRAINING_OPS,
    CodecResult,
    LayerBits,
    OpResult,
    SweepPoint,
    TermCounts,
    VariantResult,
)

RECORDS_KEYS = ("layers", "records")
"""Keys under which simulation.json may hold its per layer × op records (first found wins)."""

BY_OP_KEY = "by_op"
"""simulation.json's per-op totals over all layers (used when present)."""

TOTAL_KEY = "total"
"""simulation.json's whole-step total (used when present)."""

SWEEP_KEY = "sweep_speedup"
"""A record's iso-area sweep: area ratio → speedup (the simulator sweeps the tile policy)."""

SWEEP_POLICY = "tile"
"""The sync policy of the simulator's iso-area sweep."""

CYCLES_KEY = "cycles"
BASELINE_CYCLES_KEY = "baseline_cycles"
ENERGY_KEY = "energy_pj"
BASELINE_ENERGY_KEY = "baseline_energy_pj"
ENERGY_TOTAL_KEY = "total_pj"
"""An energy given as a breakdown mapping carries its sum under this key."""

TERMS_KEY = "terms"
TERM_CLASSES = ("zero", "out_of_bounds", "processed")

DEFAULT_SWEEP_RATIOS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
"""Area ratios of the compute-bound sweep, used when the simulation has no sweep of its own."""


def _per_policy(value: Any, policies: Sequence[str], what: str) -> dict[str, float]:
    """A value given per policy (mapping), as a breakdown with a total, or once (number)."""
    if isinstance(value, Mapping) and ENERGY_TOTAL_KEY in value:
        value = value[ENERGY_TOTAL_KEY]
    if isinstance(value, Mapping):
        missing = [p for p in policies if p not in value]
        if missing:
            raise SimulationError(
                f"simulation record's {what} lacks sync policies {missing}; "
                f"it has {sorted(value)}: simulate with every policy of the report"
            )
        return {p: float(value[p]) for p in policies}
    return {p: float(value) for p in policies}


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("inf")


def _term_counts(sums: Mapping[str, float]) -> TermCounts:
    """Whole term counts; sampled estimates are rounded per class and the total re-added."""
    counts = {name: round(sums[name]) for name in TERM_CLASSES}
    return TermCounts(total=sum(counts.values()), **counts)


def aggregate_records(
    records: Iterable[Mapping[str, Any]], op: str, policies: Sequence[str]
) -> OpResult:
    """One OpResult from simulation records (per layer of one op, or a ready total)."""
    records = list(records)
    if not records:
        raise SimulationError(
            f"no simulation records for op {op!r}; simulate the variant's traces of every op"
        )
    cycles = dict.fromkeys(policies, 0.0)
    baseline_cycles = dict.fromkeys(policies, 0.0)
    energy = dict.fromkeys(policies, 0.0)
    baseline_energy = dict.fromkeys(policies, 0.0)
    terms = dict.fromkeys(TERM_CLASSES, 0.0)
    macs = 0
    for record in records:
        for target, key in (
            (cycles, CYCLES_KEY),
            (baseline_cycles, BASELINE_CYCLES_KEY),
            (energy, ENERGY_KEY),
            (baseline_energy, BASELINE_ENERGY_KEY),
        ):
            for policy, value in _per_policy(record[key], policies, key).items():
                target[policy] += value
        for name in TERM_CLASSES:
            terms[name] += float(record[TERMS_KEY][name])
        macs += int(record["macs"])
    return OpResult(
        op=op,
        macs=macs,
        speedup={p: _ratio(baseline_cycles[p], cycles[p]) for p in policies},
        energy_efficiency={p: _ratio(baseline_energy[p], energy[p]) for p in policies},
        terms=_term_counts(terms),
    )


def _records(simulation: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for key in RECORDS_KEYS:
        if key in simulation:
            return [r for r in simulation[key] if r.get("op") in TRAINING_OPS]
    raise SimulationError(
        f"simulation has none of the record lists {list(RECORDS_KEYS)}; "
        "pass the dict of a simulation.json"
    )


def ops_from_simulation(
    simulation: Mapping[str, Any], policies: Sequence[str]
) -> tuple[list[OpResult], OpResult]:
    """Per-op results (in training order) and the whole-step total of one simulation.json.

    The simulator's own per-op and total records are used when present; otherwise they are
    summed here from the per-layer records.
    """
    by_op = simulation.get(BY_OP_KEY)
    if by_op is not None and TOTAL_KEY in simulation:
        ops = [aggregate_records([by_op[op]], op, policies) for op in TRAINING_OPS if op in by_op]
        return ops, aggregate_records([simulation[TOTAL_KEY]], "total", policies)
    records = _records(simulation)
    ops = [
        aggregate_records([r for r in records if r["op"] == op], op, policies)
        for op in TRAINING_OPS
        if any(r["op"] == op for r in records)
    ]
    return ops, aggregate_records(records, "total", policies)


def sweep_from_simulation(simulation: Mapping[str, Any]) -> list[SweepPoint] | None:
    """The simulator's own whole-step iso-area sweep (tile policy), if it has one."""
    sweep = (simulation.get(TOTAL_KEY) or {}).get(SWEEP_KEY)
    if not sweep:
        return None
    return [
        SweepPoint(area_ratio=float(ratio), speedup={SWEEP_POLICY: float(speedup)})
        for ratio, speedup in sorted(sweep.items(), key=lambda item: float(item[0]))
    ]


def iso_area_sweep(
    total: OpResult, simulated_ratio: float, ratios: Sequence[float] = DEFAULT_SWEEP_RATIOS
) -> list[SweepPoint]:
    """Whole-step speedup at other area ratios, scaled from the simulated one.

    Compute-bound scaling: r term-serial PEs per bit-parallel PE area make the term-serial
    side r / r₀ times faster than it was at the simulated ratio r₀. Layers bound by off-chip
    traffic gain less, so this is an upper bound where memory limits.
    """
    return [
        SweepPoint(
            area_ratio=ratio,
            speedup={p: s * ratio / simulated_ratio for p, s in total.speedup.items()},
        )
        for ratio in ratios
    ]


CODEC_CLASS_NAMES = {"weight": "weights", "activation": "activations", "gradient": "gradients"}
"""The codec's tensor class names → the report's (both spellings accepted)."""


def codec_results(entries: Iterable[Mapping[str, Any]]) -> list[CodecResult]:
    """Bits per value per tensor class from per-tensor entries {tensor_class, values, bits}."""
    values: dict[str, int] = {}
    bits: dict[str, int] = {}
    for entry in entries:
        name = CODEC_CLASS_NAMES.get(entry["tensor_class"], entry["tensor_class"])
        values[name] = values.get(name, 0) + int(entry["values"])
        bits[name] = bits.get(name, 0) + int(entry["bits"])
    return [
        CodecResult(tensor_class=name, values=count, bits_per_value=bits[name] / count)
        for name, count in values.items()
        if count
    ]


def build_variant(
    name: str,
    accuracy: float,
    train_seconds: float,
    layers: Sequence[Mapping[str, Any]],
    simulation: Mapping[str, Any],
    codec_entries: Iterable[Mapping[str, Any]],
    policies: Sequence[str],
    simulated_ratio: float,
    bits_kind: str = "none",
) -> VariantResult:
    """One variant's record from what its stages produced."""
    ops, total = ops_from_simulation(simulation, policies)
    return VariantResult(
        name=name,
        accuracy=accuracy,
        bits_kind=bits_kind,
        train_seconds=train_seconds,
        layers=[LayerBits(**layer) for layer in layers],
        ops=ops,
        total=total,
        iso_area_sweep=sweep_from_simulation(simulation) or iso_area_sweep(total, simulated_ratio),
        codec=codec_results(codec_entries),
    )


__all__ = [
    "DEFAULT_SWEEP_RATIOS",
    "aggregate_records",
    "build_variant",
    "codec_results",
    "iso_area_sweep",
    "ops_from_simulation",
    "sweep_from_simulation",
]
