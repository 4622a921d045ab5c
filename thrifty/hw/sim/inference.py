"""Inference cost of a frozen learned-bitlength model on integer term/bit-serial, bit-parallel PEs.

`simulate_inference(model, inputs, config)` runs the integer forward pass (`integer_forward`:
activation and weight codes of every quantized layer, lowered to O = A · B with the activation
codes as the serial operand A) and prices each layer on three integer accelerators of the same
PEs (lanes), tiles (R × C PEs, T tiles) and dataflow, the designs of the reference simulator
(DNNsim):

- term-serial (Bit-Pragmatic): a step costs the most terms of any lane's activation code
  (`pe.encoding`; zero codes have none), at least `pe.min_cycles`; the tile's PEs synchronise
  as `tile.*` says (`tile` lockstep, `row` run-ahead, `ideal`: all three reported);
- bit-serial (Stripes): a step costs the activation bitlength (the largest of its lanes'),
  whatever the values;
- bit-parallel (DaDianNao): one cycle per step.

Reductions are cut into steps as `inference.reduction_padding` says (per kernel position, as
arrays do, or at the end of K); `inference.skip_zero_weights` idles lanes with a zero weight.
Every design is run twice: at the learned bitlengths, and with the same model re-quantized at
`inference.uniform_bits` everywhere. Energy per inference reads the counts and the table
`HardwareConfig.energy` (`thrifty.hw.cost.energy.integer_energy`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from thrifty._io import write_json_atomic
from thrifty._provenance import provenance
from thrifty.errors import SimulationError
from thrifty.hw.config import SYNC_POLICIES, HardwareConfig
from thrifty.hw.cost.energy import IntegerActivity, integer_energy
from thrifty.hw.pe.integer import integer_step_cycles
from thrifty.hw.sim.integer_forward import (
    IntegerForward,
    IntegerLayer,
    check_integer_layers,
    integer_forward,
)
from thrifty.hw.sim.tiles import distribute, policy_costs
from thrifty.numerics.terms import term_count

INFERENCE_SCHEMA_VERSION = 1
INFERENCE_FILE = "inference.json"
#: The integer designs, in report order.
DESIGNS: tuple[str, ...] = ("term_serial", "bit_serial", "bit_parallel")
#: The sync policy of the headline term-serial figures (all three are recorded).
HEADLINE_POLICY = "tile"
#: Bytes of per-step cycle data held at once while a layer is simulated (chunks of rows).
_CHUNK_BYTES = 32 * 2**20


def reduction_order(channels: int, kernel_positions: int, lanes: int, padding: str) -> np.ndarray:
    """Indices into K = channels × kernel positions (channel-major) in step order, −1 = padding.

    'kernel_position': for each kernel position p, the channels c (index c·P + p) padded to a
    multiple of `lanes`; 'end': 0..K−1 padded at the end. The result has steps × lanes entries.
    """
    k = channels * kernel_positions
    if padding == "end":
        steps = -(-k // lanes)
        order = np.full(steps * lanes, -1, np.int64)
        order[:k] = np.arange(k)
        return order
    if padding != "kernel_position":
        raise SimulationError(
            f"reduction_padding {padding!r} is unknown; use 'kernel_position' or 'end'"
        )
    per_position = -(-channels // lanes) * lanes
    order = np.full((kernel_positions, per_position), -1, np.int64)
    order[:, :channels] = (
        np.arange(channels)[None, :] * kernel_positions + np.arange(kernel_positions)[:, None]
    )
    return order.ravel()


def _gather(x: np.ndarray, order: np.ndarray, axis: int) -> np.ndarray:
    """x taken along `axis` in `order`, zeros where order is −1."""
    taken = np.take(x, np.maximum(order, 0), axis=axis)
    shape = [1] * x.ndim
    shape[axis] = order.size
    return np.where((order >= 0).reshape(shape), taken, 0)


@dataclass(frozen=True)
class InferenceLayer:
    """One layer (or a sum of layers) at one precision on the three integer designs.

    cycles: {"term_serial": {policy: cycles}, "bit_serial": cycles, "bit_parallel": cycles}
    for the whole batch; energy_pj: {design: {"compute_pj", "sram_pj", "total_pj"}}; terms: the
    activation terms the term-serial lanes processed; lane_steps: (PE, step, lane) slots;
    pe_steps: (PE, step) pairs; term_serial_pe_cycles: Σ over PEs of their own term-serial
    cycles (before any synchronisation); macs: multiply-accumulates with zeros (groups × M × K × N);
    activation_bits / weight_bits: mean bitlength over the layer's values (None for a sum).
    """

    layer: str
    macs: int
    steps: int
    output_tiles: int
    pe_steps: int
    lane_steps: int
    terms: int
    term_serial_pe_cycles: int
    cycles: dict[str, Any]
    energy_pj: dict[str, dict[str, float]]
    activation_bits: float | None
    weight_bits: float | None

    def __add__(self, other: InferenceLayer) -> InferenceLayer:
        values: dict[str, Any] = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "layer":
                values[f.name] = a if a == b else "mixed"
            elif f.name in ("activation_bits", "weight_bits"):
                values[f.name] = None
            else:
                values[f.name] = _add(a, b)
        return InferenceLayer(**values)

    def speedup(self, design: str) -> float:
        """Bit-parallel cycles over `design`'s (term-serial at the headline policy)."""
        return _ratio(self.cycles["bit_parallel"], self.design_cycles(design))

    def design_cycles(self, design: str) -> float:
        """Cycles of one design (term-serial: at the headline sync policy)."""
        value = self.cycles[design]
        return float(value[HEADLINE_POLICY] if isinstance(value, Mapping) else value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record, with speedups over bit-parallel derived."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["speedup_over_bit_parallel"] = {d: self.speedup(d) for d in DESIGNS}
        data["terms_per_lane_step"] = _ratio(self.terms, self.lane_steps)
        return data


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, Mapping):
        return {key: _add(a[key], b[key]) for key in a}
    return a + b


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


def total(records: list[InferenceLayer], layer: str = "total") -> InferenceLayer:
    """Sum of layer records (a network's record is the sum of its layers')."""
    if not records:
        raise SimulationError("no quantized layer was simulated: nothing to add up")
    out = records[0]
    for record in records[1:]:
        out = out + record
    return InferenceLayer(**{**{f.name: getattr(out, f.name) for f in fields(out)}, "layer": layer})


def _term_serial(
    a: np.ndarray, b: np.ndarray, bits: int, config: HardwareConfig
) -> tuple[dict[str, np.ndarray], int, int]:
    """Per-output-tile costs per policy, PE cycles (Σ over PEs) and terms of a padded product."""
    rows, cols = config.tile.rows, config.tile.cols
    m, kp = a.shape
    n = b.shape[1]
    steps = kp // config.pe.lanes
    skip = config.inference.skip_zero_weights
    rows_per_chunk = max(rows, int(_CHUNK_BYTES // max(1, n * steps * 9)) // rows * rows)
    costs: dict[str, list[np.ndarray]] = {p: [] for p in SYNC_POLICIES}
    pe_cycles = 0
    for start in range(0, m, rows_per_chunk):
        chunk = a[start : start + rows_per_chunk]
        step_cycles = integer_step_cycles(chunk, b, bits, config.pe, skip_zero_b=skip)
        pe_cycles += int(step_cycles.sum(dtype=np.int64))
        per_policy = policy_costs(step_cycles, rows, cols, config.tile.row_buffer_depth)
        for policy in SYNC_POLICIES:
            costs[policy].append(per_policy[policy])
    counts = term_count(np.abs(a), config.pe.encoding).astype(np.float64)  # (M, Kp)
    # Without skipping, every one of the N columns' PEs processes each activation's terms.
    terms = float((counts @ (b != 0).astype(np.float64)).sum()) if skip else counts.sum() * n
    return {p: np.concatenate(c, axis=0) for p, c in costs.items()}, pe_cycles, int(terms)


def simulate_layer(record: IntegerLayer, config: HardwareConfig) -> InferenceLayer:
    """Cycles, terms and energy of one integer layer (all its groups) on the three designs."""
    lanes, rows, cols = config.pe.lanes, config.tile.rows, config.tile.cols
    geo = record.geometry
    cin_g = geo.in_channels // geo.groups
    order = reduction_order(
        cin_g, record.kernel_positions, lanes, config.inference.reduction_padding
    )
    steps = order.size // lanes
    tile_costs: dict[str, list[np.ndarray]] = {p: [] for p in SYNC_POLICIES}
    pe_cycles = terms = out_tiles = outputs = macs = 0
    serial_cycles_per_output = 0
    sram_bits = 0.0
    a_bits_sum = w_bits_sum = 0.0
    a_count = w_count = 0
    for cx, cw, a_bits, w_bits in zip(record.activation_codes, record.weight_codes,
                                      record.activation_bits, record.weight_bits,
                                      strict=True):  # fmt: skip
        m, k = cx.shape
        n = cw.shape[1]
        a = _gather(cx, order, axis=1)
        b = _gather(cw, order, axis=0)
        widest = int(a_bits.max(initial=1))
        costs, cycles, used = _term_serial(a, b, widest, config)
        for policy in SYNC_POLICIES:
            tile_costs[policy].append(costs[policy].ravel())
        pe_cycles += cycles
        terms += used
        mt, nt = -(-m // rows), -(-n // cols)
        out_tiles += mt * nt
        outputs += m * n
        macs += m * k * n
        # Stripes: each step takes the largest bitlength among its lanes' activations.
        step_bits = _gather(a_bits, order, axis=0).reshape(steps, lanes).max(axis=1)
        serial_cycles_per_output = int(step_bits.sum())
        # Each output tile reads its R rows of A and C columns of B once (as in training).
        sram_bits += nt * m * float(a_bits.sum()) + mt * float(w_bits.sum())
        a_bits_sum += m * float(a_bits.sum())
        a_count += m * k
        w_bits_sum += float(w_bits.sum())
        w_count += w_bits.size
    tiles = config.tile.tiles
    rounds = -(-out_tiles // tiles)
    term_serial = {p: float(distribute(np.concatenate(tile_costs[p]), tiles))
                   for p in SYNC_POLICIES}  # fmt: skip
    cycles = {
        "term_serial": term_serial,
        "bit_serial": float(rounds * serial_cycles_per_output),
        "bit_parallel": float(rounds * steps),
    }
    pe_steps = outputs * steps
    activity = IntegerActivity(
        pe_steps=pe_steps,
        lanes=lanes,
        terms=terms,
        term_serial_pe_cycles=pe_cycles,
        bit_serial_pe_cycles=outputs * serial_cycles_per_output,
        sram_bits=sram_bits,
    )
    energy = integer_energy(activity, config.energy)
    return InferenceLayer(
        layer=record.name,
        macs=macs,
        steps=steps,
        output_tiles=out_tiles,
        pe_steps=pe_steps,
        lane_steps=pe_steps * lanes,
        terms=terms,
        term_serial_pe_cycles=pe_cycles,
        cycles=cycles,
        energy_pj=energy,
        activation_bits=a_bits_sum / a_count if a_count else None,
        weight_bits=w_bits_sum / w_count if w_count else None,
    )


@dataclass(frozen=True)
class InferenceRun:
    """One precision of the model: its layers' records, their total, and the integer-pass check.

    `max_abs_error` / `max_abs_output`: per layer, the integer pass against the fake-quantized
    float forward on the same input; `logits_max_abs_error` and `top1_agreement`: the network's
    output from the integer pass against the model's own forward.
    """

    precision: str
    layers: tuple[InferenceLayer, ...]
    total: InferenceLayer
    max_abs_error: dict[str, float]
    max_abs_output: dict[str, float]
    logits_max_abs_error: float
    top1_agreement: float

    def to_dict(self, images: int) -> dict[str, Any]:
        """JSON-ready: layers, total, and the total per inference (÷ images)."""
        per = self.total
        return {
            "precision": self.precision,
            "layers": [r.to_dict() for r in self.layers],
            "total": per.to_dict(),
            "per_inference": {
                "cycles": {d: per.design_cycles(d) / images for d in DESIGNS},
                "energy_pj": {d: per.energy_pj[d]["total_pj"] / images for d in DESIGNS},
            },
            "integer_check": {
                "max_abs_error": self.max_abs_error,
                "max_abs_output": self.max_abs_output,
                "logits_max_abs_error": self.logits_max_abs_error,
                "top1_agreement": self.top1_agreement,
            },
        }


@dataclass(frozen=True)
class InferenceSimulation:
    """The model at its learned bitlengths and at uniform bits, on the three integer designs."""

    learned: InferenceRun
    uniform: InferenceRun
    images: int
    config: HardwareConfig
    seed: int | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: schema version, both precisions, config and provenance."""
        return {
            "schema_version": INFERENCE_SCHEMA_VERSION,
            "source": self.source,
            "images": self.images,
            "uniform_bits": self.config.inference.uniform_bits,
            "headline_policy": HEADLINE_POLICY,
            "designs": list(DESIGNS),
            "learned": self.learned.to_dict(self.images),
            "uniform": self.uniform.to_dict(self.images),
            "config": self.config.model_dump(mode="json"),
            "provenance": provenance(self.config, self.seed),
        }


def _run(precision: str, forward: IntegerForward, config: HardwareConfig) -> InferenceRun:
    layers = tuple(simulate_layer(record, config) for record in forward.layers)
    agree = (forward.output.argmax(dim=-1) == forward.reference.argmax(dim=-1)).double()
    return InferenceRun(
        precision=precision,
        layers=layers,
        total=total(list(layers)),
        max_abs_error={r.name: r.max_abs_error for r in forward.layers},
        max_abs_output={r.name: r.max_abs_output for r in forward.layers},
        logits_max_abs_error=float((forward.output - forward.reference).abs().max()),
        top1_agreement=float(agree.mean()) if agree.numel() else float("nan"),
    )


def requantized(model: nn.Module, bits: int) -> nn.Module:
    """A copy of a frozen quantized model with every bitlength set to `bits` (ranges kept)."""
    copied = copy.deepcopy(model)
    for _, layer in check_integer_layers(copied):
        for quantizer in (layer.weight_quantizer, layer.input_quantizer):
            with torch.no_grad():
                quantizer.bitlength.fill_(float(bits))
    return copied


def simulate_inference(
    model: nn.Module,
    inputs: torch.Tensor,
    config: HardwareConfig | None = None,
    *,
    seed: int | None = None,
    source: str = "",
) -> InferenceSimulation:
    """Integer inference of a frozen quantized model on `inputs` (a batch), priced per layer.

    `model` must be quantized with integer kinds and frozen (integer bitlengths); it is run in
    evaluation mode on a CPU copy, so the caller's model is left as it was. Every output tile
    is simulated (`config.sampling` does not apply). `seed` (recorded in the
    result) names how `inputs` were drawn; `source` names where the model came from.
    Raises SimulationError for a model the integer pass cannot run (see check_integer_layers).
    """
    config = HardwareConfig() if config is None else config
    if inputs.ndim == 0 or inputs.shape[0] == 0:
        raise SimulationError(
            f"inputs of shape {tuple(inputs.shape)} hold no image; pass a batch (N, ...) with N ≥ 1"
        )
    check_integer_layers(model)
    inputs = inputs.detach().cpu()
    learned_model = copy.deepcopy(model).cpu()
    learned = _run("learned", integer_forward(learned_model, inputs), config)
    bits = config.inference.uniform_bits
    uniform_model = requantized(model, bits).cpu()
    uniform = _run(f"uniform_{bits}", integer_forward(uniform_model, inputs), config)
    return InferenceSimulation(learned, uniform, int(inputs.shape[0]), config, seed, source)


def write_inference(simulation: InferenceSimulation, out_dir: str | Path) -> Path:
    """Write `inference.json` (atomically) into `out_dir`; returns its path."""
    path = Path(out_dir) / INFERENCE_FILE
    write_json_atomic(path, simulation.to_dict())
    return path


__all__ = [
    "DESIGNS",
    "HEADLINE_POLICY",
    "INFERENCE_FILE",
    "InferenceLayer",
    "InferenceRun",
    "InferenceSimulation",
    "reduction_order",
    "requantized",
    "simulate_inference",
    "simulate_layer",
    "total",
    "write_inference",
]
