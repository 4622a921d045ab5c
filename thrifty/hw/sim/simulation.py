"""Simulate a whole trace: every (layer, operation) entry, their total, and the JSON report.

`simulate_trace(folder, config)` reads a trace store (`thrifty.trace.open`), simulates each
entry with `simulate_operation` (in a process pool when `jobs` > 1, or on a Dask cluster when
given a `scheduler` address: operations are independent), and returns a `Simulation`, whose
`total` is the sum of its records. `write_simulation` writes `simulation.json` with the config
and provenance embedded.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thrifty._io import write_json_atomic
from thrifty._process_state import preserved_process_state
from thrifty._provenance import provenance
from thrifty.errors import ConfigError, SimulationError
from thrifty.hw.config import HardwareConfig
from thrifty.hw.cost.area import iso_area_tiles
from thrifty.hw.cost.iso_area import AreaReport
from thrifty.hw.sim.dataflow import OPERATION_KINDS
from thrifty.hw.sim.distributed import shared_folder, simulate_on_cluster
from thrifty.hw.sim.operation import (
    PreparedOperation,
    accelerator_area,
    prepare_operation,
    simulate_operation,
    simulate_prepared,
)
from thrifty.hw.sim.results import OpResult, total
from thrifty.trace.config import OPS

SIMULATION_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Simulation:
    """Records of every simulated operation, their total, the area report and the config."""

    layers: tuple[OpResult, ...]
    total: OpResult
    area: AreaReport
    config: HardwareConfig
    source: str

    def by_op(self) -> dict[str, OpResult]:
        """Total of each training operation over all layers (ops absent from the trace omitted)."""
        out = {}
        for op in OPS:
            records = [r for r in self.layers if r.op == op]
            if records:
                out[op] = total(records, layer="all")
        return out

    def by_kind(self) -> dict[str, dict[str, OpResult]]:
        """Per operation kind (conv, linear, attention_qk, attention_av, matmul): the total of
        each training operation and, under "all", of all three (kinds absent omitted)."""
        out: dict[str, dict[str, OpResult]] = {}
        for kind in OPERATION_KINDS:
            records = [r for r in self.layers if r.kind == kind]
            if not records:
                continue
            out[kind] = {"all": total(records, layer=kind)}
            for op in OPS:
                per_op = [r for r in records if r.op == op]
                if per_op:
                    out[kind][op] = total(per_op, layer=kind)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: schema version, layers, total, by_op, by_kind, area, config,
        provenance."""
        conf = self.config.sampling.confidence
        return {
            "schema_version": SIMULATION_SCHEMA_VERSION,
            "source": self.source,
            "layers": [r.to_dict(conf) for r in self.layers],
            "total": self.total.to_dict(conf),
            "by_op": {op: r.to_dict(conf) for op, r in self.by_op().items()},
            "by_kind": {
                kind: {op: r.to_dict(conf) for op, r in ops.items()}
                for kind, ops in self.by_kind().items()
            },
            "area": area_summary(self.area, self.config),
            **provenance(self.config, self.config.sampling.seed),
        }


def area_summary(area: AreaReport, config: HardwareConfig) -> dict[str, Any]:
    """The report's `area` section: the headline ratio, both baselines, provenance, hand count.

    `ratio`, `term_serial_tiles` and `source` are the headline baseline's; `baselines` holds
    each baseline's PE areas (µm²), ratio, tiles and source; `hand_count_pe_ge` the hand-count
    components of every PE (NAND2 gate equivalents), the documented cross-check.
    """
    base_tiles = config.tile.tiles

    def tiles(ratio: float) -> int:
        return iso_area_tiles(base_tiles, ratio) if config.area.iso_area else base_tiles

    baselines = {
        name: {**b.to_dict(), "term_serial_tiles": tiles(b.ratio)}
        for name, b in area.baselines.items()
    }
    head = baselines[area.headline]
    return {
        "baseline": area.headline,
        "ratio": head["ratio"],
        "source": head["source"]["description"],
        "baseline_tiles": base_tiles,
        "term_serial_tiles": head["term_serial_tiles"],
        "iso_area": config.area.iso_area,
        "baselines": baselines,
        "hand_count_pe_ge": {
            name: {**pe.components_ge, "total_ge": pe.total_ge}
            for name, pe in area.hand_count_ge.items()
        },
        "notes": list(area.notes),
    }


def _simulate_one(args: tuple[Any, ...]) -> OpResult:
    index, layer, op, epoch, step, geometry, tensors, config = args
    if tensors is None:  # a pool worker reads its own entry
        from thrifty.trace import open as open_trace

        entry = list(open_trace(geometry))[index]
        geometry, tensors = entry.geometry, entry.tensors
    result = simulate_operation(layer, op, geometry, tensors, config, seed_offset=index).result
    return OpResult(**{**result.__dict__, "epoch": epoch, "step": step})


def _simulate_in_turn(entries: list[Any], config: HardwareConfig) -> list[OpResult]:
    """Every entry in this process, in order; each entry's tensors are read and lowered in a
    second thread while the PE kernel (which releases the GIL) runs the entry before it."""

    def get(entry: Any, key: str) -> Any:
        return entry.get(key) if isinstance(entry, Mapping) else getattr(entry, key, None)

    def prepare(entry: Any) -> PreparedOperation:
        return prepare_operation(
            get(entry, "layer"), get(entry, "op"), get(entry, "geometry"), get(entry, "tensors")
        )

    records = []
    with ThreadPoolExecutor(max_workers=1) as reader:
        upcoming = reader.submit(prepare, entries[0]) if entries else None
        for index, entry in enumerate(entries):
            prepared = upcoming.result()
            if index + 1 < len(entries):
                upcoming = reader.submit(prepare, entries[index + 1])
            result = simulate_prepared(prepared, config, seed_offset=index).result
            epoch, step = get(entry, "epoch"), get(entry, "step")
            records.append(OpResult(**{**result.__dict__, "epoch": epoch, "step": step}))
    return records


@preserved_process_state()
def simulate_entries(entries: Iterable[Any], config: HardwareConfig) -> Simulation:
    """Simulate in-memory entries (objects or mappings with layer, op, geometry, tensors)."""
    return _finish(_simulate_in_turn(list(entries), config), config, "entries")


@preserved_process_state()
def simulate_trace(
    folder: str | Path, config: HardwareConfig, jobs: int = 1, scheduler: str | None = None
) -> Simulation:
    """Simulate every entry of the trace store in `folder`; `jobs` processes (0: all cores).

    `scheduler`: the address of a Dask scheduler (e.g. "tcp://10.0.0.5:8786"); its workers
    simulate the entries, reading the store from the same `folder` path (a shared file system),
    and the result is identical to a local run. Needs `pip install "thrifty[dask]"`.
    """
    from thrifty.trace import open as open_trace

    trace = open_trace(folder)
    entries = list(trace)
    if scheduler is not None and jobs != 1:
        raise ConfigError(
            f"jobs = {jobs} and scheduler = {scheduler!r} were both given; the Dask "
            "workers set the parallelism, so pass only the scheduler"
        )
    if scheduler is not None and entries:  # an empty trace fails below without connecting
        shared = shared_folder(folder)
        tasks = [(i, e.layer, e.op, e.epoch, e.step, shared, None, config)
                 for i, e in enumerate(entries)]  # fmt: skip
        records = simulate_on_cluster(_simulate_one, tasks, scheduler)
        return _finish(records, config, str(folder))
    if jobs == 0:
        jobs = os.cpu_count() or 1
    if jobs <= 1 or len(entries) <= 1:
        records = _simulate_in_turn(entries, config)
    else:
        import multiprocessing

        tasks = [(i, e.layer, e.op, e.epoch, e.step, str(folder), None, config)
                 for i, e in enumerate(entries)]  # fmt: skip
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            records = list(pool.map(_simulate_one, tasks))
    return _finish(records, config, str(folder))


def _finish(records: list[OpResult], config: HardwareConfig, source: str) -> Simulation:
    if not records:
        raise SimulationError(
            f"trace {source!r} holds no entries to simulate; capture at least one layer operation"
        )
    area = accelerator_area(config)
    for note in area.notes:
        warnings.warn(note, UserWarning, stacklevel=3)
    return Simulation(tuple(records), total(records), area, config, source)


def write_simulation(simulation: Simulation, out_dir: str | Path) -> Path:
    """Write `simulation.json` into `out_dir` (atomically) and return its path."""
    path = Path(out_dir) / "simulation.json"
    write_json_atomic(path, simulation.to_dict())
    return path


__all__ = ["Simulation", "simulate_entries", "simulate_trace", "write_simulation"]
