"""Bits per value of a trace's tensors under the codec: per tensor class, layer and operation.

Each recorded operation reads two operands from off-chip memory (docs/design.md §5): a record is one
operand of one entry, so the per-layer and per-operation sums are the traffic the accelerator
moves. The per-class summary counts every stored tensor once (an activation read by forward and
by backward_weight is one tensor), which is the footprint of that class.

Traces recorded in float32 are rounded to bfloat16 (round to nearest even) before encoding:
the accelerator moves bfloat16 values, and the codec is lossless on those. `source_dtype` says
which tensors were converted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from thrifty.errors import NumericsError, TraceError
from thrifty.hw.codec.config import CodecConfig
from thrifty.hw.codec.encoding import decode, encode, encoded_size_bits
from thrifty.hw.codec.format import VALUE_BITS

#: Class of each trace tensor name: the gradient a layer receives is its output gradient.
TENSOR_CLASSES: dict[str, str] = {
    "activation": "activation",
    "weight": "weight",
    "grad_output": "gradient",
}


@dataclass(frozen=True)
class CodecRecord:
    """One operand of one trace entry and its encoded size."""

    layer: str
    op: str
    epoch: int
    step: int
    tensor: str
    tensor_class: str
    shape: tuple[int, ...]
    source_dtype: str
    numel: int
    encoded_bits: int
    source: str  # which stored tensor this is (rank/file/key): equal for shared operands

    @property
    def bits_per_value(self) -> float:
        """Encoded bits per value (16.0 is plain bfloat16)."""
        return self.encoded_bits / self.numel if self.numel else 0.0


@dataclass(frozen=True)
class CodecSummary:
    """Totals of a set of records: values, encoded bits, and the ratio to plain bfloat16."""

    tensors: int
    numel: int
    encoded_bits: int

    @property
    def raw_bits(self) -> int:
        """Bits as plain bfloat16."""
        return VALUE_BITS * self.numel

    @property
    def bits_per_value(self) -> float:
        """Encoded bits per value over the whole set."""
        return self.encoded_bits / self.numel if self.numel else 0.0

    @property
    def compression_ratio(self) -> float:
        """Plain bfloat16 bits over encoded bits (> 1 means smaller)."""
        return self.raw_bits / self.encoded_bits if self.encoded_bits else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able totals, units in the key names."""
        return {
            "tensors": self.tensors,
            "values": self.numel,
            "encoded_bits": self.encoded_bits,
            "raw_bits": self.raw_bits,
            "bits_per_value": self.bits_per_value,
            "compression_ratio": self.compression_ratio,
        }


def summarize(records: Iterable[CodecRecord]) -> CodecSummary:
    """Totals of `records`."""
    records = list(records)
    return CodecSummary(
        tensors=len(records),
        numel=sum(r.numel for r in records),
        encoded_bits=sum(r.encoded_bits for r in records),
    )


@dataclass(frozen=True)
class TraceCodecReport:
    """Encoded sizes of every operand of a trace under one codec config."""

    config: CodecConfig
    records: tuple[CodecRecord, ...]

    def _grouped(self, key: Any, records: Iterable[CodecRecord]) -> dict[Any, CodecSummary]:
        groups: dict[Any, list[CodecRecord]] = {}
        for record in records:
            groups.setdefault(key(record), []).append(record)
        return {name: summarize(group) for name, group in groups.items()}

    def unique_records(self) -> list[CodecRecord]:
        """One record per stored tensor (the first operand that used it)."""
        seen: dict[str, CodecRecord] = {}
        for record in self.records:
            seen.setdefault(record.source, record)
        return list(seen.values())

    def total(self) -> CodecSummary:
        """Traffic of every operand of every operation."""
        return summarize(self.records)

    def by_class(self) -> dict[str, CodecSummary]:
        """Footprint per tensor class (activation, weight, gradient), each stored tensor once."""
        return self._grouped(lambda r: r.tensor_class, self.unique_records())

    def by_layer(self) -> dict[str, CodecSummary]:
        """Traffic per layer (all operations' operands)."""
        return self._grouped(lambda r: r.layer, self.records)

    def by_op(self) -> dict[str, CodecSummary]:
        """Traffic per training operation (forward, backward_data, backward_weight)."""
        return self._grouped(lambda r: r.op, self.records)

    def by_layer_op(self) -> dict[tuple[str, str], CodecSummary]:
        """Traffic per (layer, operation)."""
        return self._grouped(lambda r: (r.layer, r.op), self.records)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able report: config, totals, per class / layer / op / layer-op summaries."""
        return {
            "codec": self.config.model_dump(),
            "total": self.total().to_dict(),
            "by_class": {k: v.to_dict() for k, v in self.by_class().items()},
            "by_layer": {k: v.to_dict() for k, v in self.by_layer().items()},
            "by_op": {k: v.to_dict() for k, v in self.by_op().items()},
            "by_layer_op": [
                {"layer": layer, "op": op, **v.to_dict()}
                for (layer, op), v in self.by_layer_op().items()
            ],
            "converted_to_bfloat16": sorted(
                {r.source_dtype for r in self.records if r.source_dtype != "bfloat16"}
            ),
        }


def _as_bfloat16(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.dtype == torch.bfloat16:
        return tensor
    if not tensor.dtype.is_floating_point:
        raise NumericsError(
            f"trace tensor of dtype {tensor.dtype} cannot be encoded; the codec takes floating "
            "point tensors (rounded to bfloat16)"
        )
    return tensor.to(torch.bfloat16)


def measure_trace(
    trace: str | Path | Iterable[Any],
    config: CodecConfig | None = None,
    *,
    check_lossless: bool = False,
) -> TraceCodecReport:
    """Encoded size of every operand of every entry of `trace` (a folder or opened trace).

    Each tensor is grouped along its default channel dimension (`channel_dim`). With
    `check_lossless`, every tensor is also encoded, decoded and compared bit for bit; a
    mismatch raises TraceError (it would be a codec bug).
    """
    config = config if config is not None else CodecConfig()
    if isinstance(trace, (str, Path)):
        from thrifty.trace import open_trace

        trace = open_trace(trace)
    records = []
    sizes: dict[str, int] = {}  # stored tensors shared by two operations are sized once
    for entry in trace:
        for name in entry.tensors:
            info = getattr(entry.tensors, "info", None)
            if info is not None:
                ref = info(name)
                source = f"{getattr(entry, 'rank', 0)}/{ref['file']}/{ref['key']}"
            else:  # a plain mapping: no sharing information, every operand counts alone
                source = (
                    f"{entry.layer}/{entry.op}/{entry.epoch}/{entry.step}/{name}/{len(records)}"
                )
            tensor = entry.tensors[name]
            source_dtype = str(tensor.dtype).removeprefix("torch.")
            if source not in sizes:
                x = _as_bfloat16(tensor)
                if check_lossless:
                    encoded = encode(x, config)
                    same = torch.equal(decode(encoded).view(torch.int16), x.view(torch.int16))
                    if not same:
                        raise TraceError(
                            f"codec round trip of {entry.layer}/{entry.op}/{name} is not "
                            "bit-exact: this is a thrifty bug, please report it"
                        )
                    sizes[source] = encoded.nbits
                else:
                    sizes[source] = encoded_size_bits(x, config)
            records.append(
                CodecRecord(
                    layer=entry.layer,
                    op=entry.op,
                    epoch=entry.epoch,
                    step=entry.step,
                    tensor=name,
                    tensor_class=TENSOR_CLASSES.get(name, name),
                    shape=tuple(tensor.shape),
                    source_dtype=source_dtype,
                    numel=tensor.numel(),
                    encoded_bits=sizes[source],
                    source=source,
                )
            )
    return TraceCodecReport(config=config, records=tuple(records))
