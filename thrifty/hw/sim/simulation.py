"""Simulate a whole trace: every (layer, operation) entry, their total, and the JSON report.

`simulate_trace(folder, config)` reads a trace store (`thrifty.trace.open`), simulates each
entry with `simulate_operation` (in a process pool when `jobs` > 1: operations are independent),
and returns a `Simulation`, whose `total` is the sum of its records. `write_simulation` writes
`simulation.json` with the config and provenance embedded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from thrifty._io import write_json_atomic
from thrifty._process_state import preserved_process_state
from thrifty._provenance import provenance
from thrifty.errors import SimulationError
from thrifty.hw.config import HardwareConfig
from thrifty.hw.cost.area import AreaReport, iso_area_tiles
from thrifty.hw.sim.operation import accelerator_area, simulate_operation
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

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: schema version, layers, total, by_op, area, config, provenance."""
        conf = self.config.sampling.confidence
        base_tiles = self.config.tile.tiles
        return {
            "schema_version": SIMULATION_SCHEMA_VERSION,
            "source": self.source,
            "layers": [r.to_dict(conf) for r in self.layers],
            "total": self.total.to_dict(conf),
            "by_op": {op: r.to_dict(conf) for op, r in self.by_op().items()},
            "area": {
                "term_serial_pe_ge": asdict(self.area.term_serial)["components_ge"],
                "bit_parallel_pe_ge": asdict(self.area.bit_parallel)["components_ge"],
                "term_serial_pe_total_ge": self.area.term_serial.total_ge,
                "bit_parallel_pe_total_ge": self.area.bit_parallel.total_ge,
                "model_ratio": self.area.model_ratio,
                "ratio": self.area.ratio,
                "baseline_tiles": base_tiles,
                "term_serial_tiles": iso_area_tiles(base_tiles, self.area.ratio)
                if self.config.area.iso_area
                else base_tiles,
            },
            **provenance(self.config, self.config.sampling.seed),
        }


def _simulate_one(args: tuple[Any, ...]) -> OpResult:
    index, layer, op, epoch, step, geometry, tensors, config = args
    if tensors is None:  # a pool worker reads its own entry
        from thrifty.trace import open as open_trace

        entry = list(open_trace(geometry))[index]
        geometry, tensors = entry.geometry, entry.tensors
    result = simulate_operation(layer, op, geometry, tensors, config, seed_offset=index).result
    return OpResult(**{**result.__dict__, "epoch": epoch, "step": step})


@preserved_process_state()
def simulate_entries(entries: Iterable[Any], config: HardwareConfig) -> Simulation:
    """Simulate in-memory entries (objects or mappings with layer, op, geometry, tensors)."""
    records = []
    for index, entry in enumerate(entries):
        get = entry.get if isinstance(entry, Mapping) else lambda k, e=entry: getattr(e, k, None)
        args = (index, get("layer"), get("op"), get("epoch"), get("step"), get("geometry"),
                get("tensors"), config)  # fmt: skip
        records.append(_simulate_one(args))
    return _finish(records, config, "entries")


@preserved_process_state()
def simulate_trace(folder: str | Path, config: HardwareConfig, jobs: int = 1) -> Simulation:
    """Simulate every entry of the trace store in `folder`; `jobs` processes (0: all cores)."""
    from thrifty.trace import open as open_trace

    trace = open_trace(folder)
    entries = list(trace)
    if jobs == 0:
        jobs = os.cpu_count() or 1
    if jobs <= 1 or len(entries) <= 1:
        records = [
            _simulate_one((i, e.layer, e.op, e.epoch, e.step, e.geometry, e.tensors, config))
            for i, e in enumerate(entries)
        ]
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
    return Simulation(tuple(records), total(records), accelerator_area(config), config, source)


def write_simulation(simulation: Simulation, out_dir: str | Path) -> Path:
    """Write `simulation.json` into `out_dir` (atomically) and return its path."""
    path = Path(out_dir) / "simulation.json"
    write_json_atomic(path, simulation.to_dict())
    return path


__all__ = ["Simulation", "simulate_entries", "simulate_trace", "write_simulation"]
