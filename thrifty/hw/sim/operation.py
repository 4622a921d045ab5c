"""Simulate one traced training operation on the term-serial accelerator and on the baseline.

Pipeline per (layer, op): lower to per-group products (`dataflow`), orient them so the serial
operand is A, run the PE model (`pe_matmul`) over chunks of whole output-tile rows (bounded
memory), reduce its per-step cycles to per-output-tile costs for each sync policy (`tiles`), deal
output tiles to tiles, bound by off-chip traffic (roofline), and price the activity (`energy`).

Sampling (`HardwareConfig.sampling.fraction` < 1) simulates a random subset of output tiles, drawn
as whole rows of output tiles (or whole columns, when a product has more tile columns than rows:
a cluster sample), separately in each group. Totals are expanded by (clusters / sampled) per
group; the variance of the expansion estimator (with finite-population correction) gives the
interval. Sampled cycles assume the T tiles are equally loaded: cycles ≈ total work × ⌈n / T⌉ / n.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from thrifty.errors import SimulationError
from thrifty.hw.config import BASELINES, SYNC_POLICIES, HardwareConfig
from thrifty.hw.cost.area import iso_area_tiles
from thrifty.hw.cost.energy import BASELINE_ENERGY, Activity, energy_split, term_serial_energy
from thrifty.hw.cost.iso_area import AreaReport, area_report
from thrifty.hw.pe.config import SIGNIFICAND_BITS
from thrifty.hw.sim.dataflow import (
    OPERANDS,
    MatrixProduct,
    as_tensor,
    assemble_output,
    geometry_from_dict,
    lower,
    operation_kind,
)
from thrifty.hw.sim.results import SWEEP_POLICY, OpResult
from thrifty.hw.sim.tile_run import run_tiles
from thrifty.hw.sim.tiles import baseline_cycles, distribute

#: Per-output-tile quantities that are summed (and estimated when sampling).
_STATS = (*SYNC_POLICIES, "pe_cycles", "terms_total", "terms_out_of_bounds", "terms_processed")


#: Memory model of one chunk: bytes per output (two float32 values).
_BYTES_PER_OUTPUT = 8


def window_bits(config: HardwareConfig) -> int:
    """Accumulator window W of the PE: significand bits plus guard bits."""
    return int(config.pe.window_bits)


def accelerator_area(config: HardwareConfig) -> AreaReport:
    """PE areas and the iso-area ratio against each baseline for this config."""
    return area_report(config)


@dataclass
class _GroupRun:
    """Per-output-tile statistics of one oriented product (all or sampled clusters)."""

    stats: dict[str, np.ndarray]  # name → (Mt_sel, Nt_sel)
    clusters_axis: int  # 0: clusters are tile rows, 1: tile columns
    clusters: int  # B: clusters in the population
    values: np.ndarray | None


def _block_indices(blocks: np.ndarray, size: int, total: int) -> np.ndarray:
    """Indices of the rows (or columns) of whole blocks of `size`, in block order, cut at
    `total` (the last block of an axis may be partial). One vectorised step: a product has up
    to thousands of blocks."""
    indices = (np.asarray(blocks, np.int64)[:, None] * size + np.arange(size)).ravel()
    return indices[indices < total]


def _run_product(
    a: np.ndarray,
    b: np.ndarray,
    config: HardwareConfig,
    rng: np.random.Generator | None,
    keep_values: bool,
) -> _GroupRun:
    """Run the PE model on A (M, K) · B (K, N), in chunks of whole output-tile rows."""
    rows, cols = config.tile.rows, config.tile.cols
    m, n = a.shape[0], b.shape[1]
    mt, nt = -(-m // rows), -(-n // cols)
    axis = 0 if mt >= nt else 1
    clusters = mt if axis == 0 else nt
    row_blocks, col_blocks = np.arange(mt), np.arange(nt)
    if rng is not None:
        take = min(clusters, max(2, math.ceil(config.sampling.fraction * clusters)))
        chosen = np.sort(rng.choice(clusters, size=take, replace=False))
        if axis == 0:
            row_blocks = chosen
        else:
            col_blocks = chosen
    col_idx = _block_indices(col_blocks, cols, n)
    b_sel = np.ascontiguousarray(b[:, col_idx]) if len(col_idx) != n else b
    # Bytes held per output of a chunk: its term-serial and baseline values (float32 each); the
    # per-step cycles are folded into per-tile costs inside the kernel and never stored.
    budget = config.sampling.chunk_mib * 2**20
    blocks_per_chunk = max(1, int(budget // max(1, rows * len(col_idx) * _BYTES_PER_OUTPUT)))
    stats = {name: [] for name in _STATS}
    values = np.zeros((m, n), np.float32) if keep_values else None
    depth = config.tile.row_buffer_depth
    for start in range(0, len(row_blocks), blocks_per_chunk):
        blocks = row_blocks[start : start + blocks_per_chunk]
        row_idx = _block_indices(blocks, rows, m)
        a_rows = a if len(row_idx) == m else np.ascontiguousarray(a[row_idx])
        result = run_tiles(a_rows, b_sel, config.pe, rows, cols, depth, baseline=False)
        for name in _STATS:
            stats[name].append(result.stats[name])
        if values is not None:
            values[np.ix_(row_idx, col_idx)] = result.value
    return _GroupRun(
        {name: np.concatenate(parts, axis=0) for name, parts in stats.items()},
        axis,
        clusters,
        values,
    )


@dataclass(frozen=True)
class _Estimate:
    totals: dict[str, float]
    variances: dict[str, float]
    costs: dict[str, np.ndarray] | None  # exact per-output-tile costs (full runs only)


def _estimate(runs: list[_GroupRun], sampled: bool) -> _Estimate:
    totals = dict.fromkeys(_STATS, 0.0)
    variances = dict.fromkeys(_STATS, 0.0)
    for run in runs:
        for name in _STATS:
            per_cluster = run.stats[name].sum(axis=1 - run.clusters_axis).astype(np.float64)
            taken = per_cluster.size
            scale = run.clusters / taken
            totals[name] += float(scale * per_cluster.sum())
            if sampled and taken > 1:
                s2 = per_cluster.var(ddof=1)
                fpc = 1.0 - taken / run.clusters
                variances[name] += float(run.clusters**2 * fpc * s2 / taken)
    costs = None
    if not sampled:
        costs = {p: np.concatenate([r.stats[p].ravel() for r in runs]) for p in SYNC_POLICIES}
    return _Estimate(totals, variances, costs)


def _orient(product: MatrixProduct, serial: str) -> list[tuple[np.ndarray, np.ndarray]]:
    if serial == product.left_name:
        return list(zip(product.left, product.right, strict=True))
    return [(np.ascontiguousarray(r.T), np.ascontiguousarray(l.T))
            for l, r in zip(product.left, product.right, strict=True)]  # fmt: skip


def _offchip_bits(
    op: str, geometry, tensors: Mapping[str, Any], product: MatrixProduct, config: HardwareConfig
) -> dict[str, int | None]:
    """Each operand tensor read once and the result written once (perfect on-chip reuse).

    Both sizes are always computed: reports compare the designs with and without the codec.
    """
    from thrifty.hw.codec import encoded_size_bits

    inputs = [np.asarray(tensors[name]) for name in OPERANDS[op]]
    shape = product.shape
    plain = (sum(int(x.size) for x in inputs) + shape.groups * shape.m * shape.n) * (
        config.memory.value_bits
    )
    # The result's encoded size needs its values: the float32 product of the factors.
    outputs = [(torch.from_numpy(left) @ torch.from_numpy(right)).numpy()
               for left, right in zip(product.left, product.right, strict=True)]  # fmt: skip
    arrays = [*inputs, assemble_output(op, geometry, outputs)]
    codec = config.memory.codec
    as_bf16 = [torch.as_tensor(np.ascontiguousarray(x, np.float32)).bfloat16() for x in arrays]
    coded = sum(int(encoded_size_bits(x, codec)) for x in as_bf16)
    return {"uncompressed": plain, "codec": coded}


def _sram_bits(m: int, k: int, n: int, rows: int, cols: int, value_bits: int) -> int:
    """Each output tile reads its R rows of A and C columns of B once and writes its outputs."""
    mt, nt = -(-m // rows), -(-n // cols)
    return value_bits * (nt * m * k + mt * n * k + m * n)


@dataclass(frozen=True)
class OpSimulation:
    """One operation's record, and (when asked) the term-serial output values."""

    result: OpResult
    values: np.ndarray | None


def simulate_operation(
    layer: str,
    op: str,
    geometry: Mapping[str, Any],
    tensors: Mapping[str, Any],
    config: HardwareConfig,
    *,
    keep_values: bool = False,
    seed_offset: int = 0,
) -> OpSimulation:
    """Simulate one traced operation; `keep_values` returns the PE's outputs in tensor layout.

    Values are only available from full runs (`sampling.fraction` = 1): a sampled run returns
    `values=None`. `seed_offset` decorrelates the samples of different operations of a trace.
    Raises SimulationError for an unknown operation, missing tensors or an unsupported layer.
    """
    prepared = prepare_operation(layer, op, geometry, tensors)
    return simulate_prepared(prepared, config, keep_values=keep_values, seed_offset=seed_offset)


@dataclass(frozen=True)
class PreparedOperation:
    """An operation read and lowered, ready for the PE model (`prepare_operation`)."""

    layer: str
    op: str
    geometry: Mapping[str, Any]
    tensors: dict[str, np.ndarray]  # the trace operands, float32
    product: MatrixProduct


def prepare_operation(
    layer: str, op: str, geometry: Mapping[str, Any], tensors: Mapping[str, Any]
) -> PreparedOperation:
    """Check, read (lazy trace tensors load here) and lower one operation.

    Separate from `simulate_prepared` so that a whole-trace run can prepare the next operation
    in a second thread while the PE kernel (which releases the GIL) runs the current one.
    """
    geo = geometry_from_dict(geometry)
    if op not in OPERANDS:
        raise SimulationError(f"unknown operation {op!r}; choose one of {list(OPERANDS)}")
    missing = [name for name in OPERANDS[op] if name not in tensors]
    if missing:
        raise SimulationError(f"{layer} {op} needs tensors {list(OPERANDS[op])}; missing {missing}")
    arrays = {name: as_tensor(tensors[name]).float().numpy() for name in OPERANDS[op]}
    return PreparedOperation(layer, op, geometry, arrays, lower(op, geo, arrays))


def simulate_prepared(
    prepared: PreparedOperation,
    config: HardwareConfig,
    *,
    keep_values: bool = False,
    seed_offset: int = 0,
) -> OpSimulation:
    """`simulate_operation` on an operation already prepared (same arguments, same result).

    The off-chip sizes (a float32 product and the codec) do not depend on the PE model, so they
    are computed in a second thread while the kernel runs.
    """
    with ThreadPoolExecutor(max_workers=1) as side:
        offchip_bits = side.submit(
            _offchip_bits,
            prepared.op,
            geometry_from_dict(prepared.geometry),
            prepared.tensors,
            prepared.product,
            config,
        )
        return _simulate(prepared, config, keep_values, seed_offset, offchip_bits.result)


def _simulate(
    prepared: PreparedOperation,
    config: HardwareConfig,
    keep_values: bool,
    seed_offset: int,
    offchip_bits: Callable[[], dict[str, int | None]],
) -> OpSimulation:
    layer, op, geometry, product = (
        prepared.layer,
        prepared.op,
        prepared.geometry,
        prepared.product,
    )
    geo = geometry_from_dict(geometry)
    setting = getattr(config.dataflow, op)
    sampled = config.sampling.fraction < 1.0
    if sampled and keep_values:
        keep_values = False
    candidates = OPERANDS[op] if setting == "oracle" else (setting,)
    runs: dict[str, list[_GroupRun]] = {}
    for serial in candidates:
        rng = np.random.default_rng([config.sampling.seed, seed_offset]) if sampled else None
        runs[serial] = [_run_product(a, b, config, rng, keep_values)
                        for a, b in _orient(product, serial)]  # fmt: skip
    estimates = {s: _estimate(r, sampled) for s, r in runs.items()}
    serial = min(candidates, key=lambda s: estimates[s].totals["terms_processed"])
    est = estimates[serial]
    oracle_terms = (
        {s: e.totals["terms_processed"] for s, e in estimates.items()}
        if len(candidates) > 1
        else {}
    )

    oriented = _orient(product, serial)
    lanes, rows, cols = config.pe.lanes, config.tile.rows, config.tile.cols
    steps = max(1, -(-oriented[0][0].shape[1] // lanes))
    out_tiles = sum(-(-a.shape[0] // rows) * -(-b.shape[1] // cols) for a, b in oriented)
    pe_steps = sum(a.shape[0] * b.shape[1] for a, b in oriented) * steps
    sram = sum(
        _sram_bits(a.shape[0], a.shape[1], b.shape[1], rows, cols, config.memory.value_bits)
        for a, b in oriented
    )
    area = accelerator_area(config)
    base_tiles = config.tile.tiles
    ts_tiles = {
        b: iso_area_tiles(base_tiles, area.baselines[b].ratio) if config.area.iso_area
        else base_tiles
        for b in BASELINES
    }  # fmt: skip
    offchip = offchip_bits()
    bytes_per_cycle = config.memory.dram_bandwidth_gb_s / config.memory.clock_ghz
    memory = {v: float(math.ceil(bits / 8 / bytes_per_cycle)) for v, bits in offchip.items()}
    headline_variant = "codec" if config.memory.use_codec else "uncompressed"
    memory_cycles = memory[headline_variant]

    def cycles_for(policy: str, tiles: int) -> float:
        if est.costs is not None:
            return float(distribute(est.costs[policy], tiles))
        return est.totals[policy] * math.ceil(out_tiles / tiles) / out_tiles

    compute_by = {b: {p: cycles_for(p, ts_tiles[b]) for p in SYNC_POLICIES} for b in BASELINES}
    headline = config.baseline
    compute = compute_by[headline]
    factor = math.ceil(out_tiles / ts_tiles[headline]) / out_tiles
    variance = {p: est.variances[p] * factor**2 for p in SYNC_POLICIES}
    base_compute = float(baseline_cycles(out_tiles, steps, base_tiles))
    sweep = {
        f"{ratio:g}": max(
            cycles_for(SWEEP_POLICY, iso_area_tiles(base_tiles, ratio)), memory_cycles
        )
        for ratio in config.area.sweep
    }
    t = est.totals
    # A bit-serial lane would spend one slot per significand bit of every lane of every step;
    # the PE skips the zero ones (zero bits, zero operands, missing lanes) and out-of-bounds ones.
    slots = float(pe_steps * lanes * SIGNIFICAND_BITS)
    terms = {
        "total": slots,
        "zero": slots - t["terms_total"],
        "out_of_bounds": t["terms_out_of_bounds"],
        "processed": t["terms_processed"],
    }
    pes = rows * cols
    outputs = sum(a.shape[0] * b.shape[1] for a, b in oriented)
    nand2 = config.area.nand2_um2

    def activity(variant: str) -> Activity:
        return Activity(pe_steps, lanes, t["terms_processed"], t["pe_cycles"], sram,
                        offchip[variant], outputs)  # fmt: skip

    # Every design × off-chip format: cycles per policy and the full energy breakdown (pJ).
    breakdowns: dict[str, dict[str, dict[str, float]]] = {}
    designs: dict[str, dict[str, dict[str, Any]]] = {}
    for b in BASELINES:
        ts_key, ts_ge = f"term_serial_vs_{b}", area.baselines[b].term_serial_pe_um2 / nand2
        base_ge = area.baselines[b].baseline_pe_um2 / nand2
        for key in (ts_key, b):
            designs[key], breakdowns[key] = {}, {}
        for variant in offchip:
            ts_cycles = {p: max(c, memory[variant]) for p, c in compute_by[b].items()}
            base_cycles = dict.fromkeys(SYNC_POLICIES, max(base_compute, memory[variant]))
            act = activity(variant)
            ts_energy = term_serial_energy(
                act, ts_cycles["tile"], pes * ts_tiles[b], ts_ge, config.energy
            )
            base_energy = BASELINE_ENERGY[b](
                act, base_cycles["tile"], pes * base_tiles, base_ge, config.energy
            )
            for key, cyc, energy in ((ts_key, ts_cycles, ts_energy),
                                     (b, base_cycles, base_energy)):  # fmt: skip
                breakdowns[key][variant] = energy
                designs[key][variant] = {"cycles": cyc, **energy_split(energy)}
    headline_ts = designs[f"term_serial_vs_{headline}"][headline_variant]
    headline_base = designs[headline][headline_variant]
    cycles = dict(headline_ts["cycles"])
    base = dict(headline_base["cycles"])
    energy = breakdowns[f"term_serial_vs_{headline}"][headline_variant]
    base_energy = breakdowns[headline][headline_variant]
    result = OpResult(
        layer=layer,
        op=op,
        serial_operand=serial,
        macs=product.shape.macs,
        output_tiles=out_tiles,
        compute_cycles=compute,
        cycles=cycles,
        baseline_cycles=base,
        baseline_compute_cycles=base_compute,
        memory_cycles=memory_cycles,
        cycles_variance=variance,
        sweep_cycles=sweep,
        sweep_baseline_cycles=base["tile"],
        terms=terms,
        energy_pj=energy,
        baseline_energy_pj=base_energy,
        sram_bits=sram,
        offchip_bits=offchip,
        sampled_fraction=config.sampling.fraction,
        oracle_terms=oracle_terms,
        designs=designs,
        kind=operation_kind(geometry),
    )
    values = None
    if keep_values:
        outs = []
        for run in runs[serial]:
            outs.append(run.values if serial == product.left_name else run.values.T)
        values = assemble_output(op, geo, outs)
    return OpSimulation(result, values)


__all__ = [
    "OpSimulation",
    "PreparedOperation",
    "accelerator_area",
    "prepare_operation",
    "simulate_operation",
    "simulate_prepared",
    "window_bits",
]
