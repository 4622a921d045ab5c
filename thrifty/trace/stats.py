"""Per-layer, per-operation statistics of a trace: what `thrifty trace info` prints.

For each (layer, op): entry count, shapes, MACs, bytes, and for each of the two operands the
zero fraction, the range of base-2 exponents of its non-zero values, and the mean number of
terms per value of the value's bfloat16 significand (zeros count 0 terms). Terms use
`thrifty.numerics.term_count` (NAF recoding by default) when that module provides it; without
it they fall back to the popcount of the significand (plain binary terms), and the result says
which was used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from thrifty.trace.config import OPS
from thrifty.trace.format import OP_TENSORS
from thrifty.trace.geometry import macs
from thrifty.trace.reader import open_trace

#: Term encoding used for "mean terms per value" when thrifty.numerics provides term counts.
DEFAULT_TERM_ENCODING: str = "naf"

#: Bits of the bfloat16 fraction field, and the implicit leading one of normal values.
_FRACTION_BITS = 7
_HIDDEN_BIT = 1 << _FRACTION_BITS


def _term_counter(encoding: str) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """(function: significands → term counts, description of the encoding used)."""
    try:
        from thrifty.numerics import term_count
    except ImportError:
        return (lambda m: np.bitwise_count(m.astype(np.uint16)).astype(np.int64)), (
            "binary (popcount of the bfloat16 significand; thrifty.numerics has no term_count)"
        )
    return (lambda m: term_count(m, encoding)), f"{encoding} (thrifty.numerics.term_count)"


def bfloat16_significands(tensor: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(significands with the hidden bit, unbiased exponents) of the tensor's non-zero finite
    values after rounding to bfloat16 (subnormals: no hidden bit, exponent -126)."""
    bits = tensor.detach().to(torch.bfloat16).view(torch.int16).numpy().astype(np.int32) & 0xFFFF
    exponent_field = (bits >> _FRACTION_BITS) & 0xFF
    fraction = bits & (_HIDDEN_BIT - 1)
    keep = (exponent_field != 0xFF) & ((exponent_field != 0) | (fraction != 0))
    exponent_field, fraction = exponent_field[keep], fraction[keep]
    normal = exponent_field != 0
    significand = np.where(normal, fraction | _HIDDEN_BIT, fraction)
    exponent = np.where(normal, exponent_field - 127, -126)
    return significand.ravel(), exponent.ravel()


@dataclass
class OperandStats:
    """Running totals over every stored instance of one operand of one (layer, op)."""

    values: int = 0
    zeros: int = 0
    terms: int = 0
    exponent_min: int | None = None
    exponent_max: int | None = None

    def add(self, tensor: torch.Tensor, count_terms: Callable[[np.ndarray], np.ndarray]) -> None:
        self.values += tensor.numel()
        self.zeros += int((tensor == 0).sum())
        significand, exponent = bfloat16_significands(tensor)
        if significand.size:
            self.terms += int(count_terms(significand).sum())
            low, high = int(exponent.min()), int(exponent.max())
            self.exponent_min = low if self.exponent_min is None else min(self.exponent_min, low)
            self.exponent_max = high if self.exponent_max is None else max(self.exponent_max, high)

    def as_dict(self) -> dict[str, Any]:
        return {
            "values": self.values,
            "zero_fraction": self.zeros / self.values if self.values else 0.0,
            "exponent_min": self.exponent_min,
            "exponent_max": self.exponent_max,
            "mean_terms": self.terms / self.values if self.values else 0.0,
        }


@dataclass
class OpStats:
    """Totals of one (layer, op) over all its entries."""

    layer: str
    op: str
    geometry: dict[str, Any]
    entries: int = 0
    macs: int = 0
    bytes: int = 0
    operands: dict[str, OperandStats] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        g = self.geometry
        first, second = OP_TENSORS[self.op]
        shapes = {"activation": g["input_shape"], "weight": g["weight_shape"]}
        shapes["grad_output"] = g["output_shape"]
        # What the operation produces: the output, the activation's or the weight's gradient.
        result = {"forward": "output_shape", "backward_data": "input_shape"}
        output = g[result.get(self.op, "weight_shape")]
        return {
            "layer": self.layer,
            "op": self.op,
            "kind": g["kind"],
            "dtype": g["dtype"],
            "entries": self.entries,
            "shapes": {first: shapes[first], second: shapes[second], "output": output},
            "macs": self.macs,
            "bytes": self.bytes,
            "operands": {name: s.as_dict() for name, s in self.operands.items()},
        }


def trace_summary(folder: str | Path, term_encoding: str = DEFAULT_TERM_ENCODING) -> dict[str, Any]:
    """JSON-able statistics of the store in `folder`, one row per (layer, op), layers in order.

    `macs` and `bytes` are totals over the row's entries (MACs as in `geometry.macs`: the same
    for the three operations); operand statistics are taken over every stored value.
    """
    trace = open_trace(folder)
    count_terms, encoding_used = _term_counter(term_encoding)
    rows: dict[tuple[str, str], OpStats] = {}
    for entry in trace:
        row = rows.setdefault(
            (entry.layer, entry.op), OpStats(entry.layer, entry.op, entry.geometry)
        )
        row.entries += 1
        row.macs += macs(entry.geometry)
        for name in OP_TENSORS[entry.op]:
            tensor = entry.tensors[name]
            row.bytes += tensor.numel() * tensor.element_size()
            row.operands.setdefault(name, OperandStats()).add(tensor, count_terms)
    layer_order = {layer: i for i, (layer, _) in reversed(list(enumerate(rows)))}
    ordered = sorted(rows.values(), key=lambda r: (layer_order[r.layer], OPS.index(r.op)))
    return {
        "folder": str(folder),
        "entries": len(trace),
        "stopped": trace.stopped,
        "term_encoding": encoding_used,
        "rows": [row.as_dict() for row in ordered],
    }
