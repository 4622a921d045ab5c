"""`summary(model)`: per-layer bitlengths and sizes, and the means the paper reports.

Records and means are plain numbers (JSON first: `to_dict()`); `str(summary)` / `table()`
renders them. The means follow `costs.py`: `mean_bits` is the `bits` cost, `memory_weighted_bits`
the `memory` cost, `bitops` = Σ MACs · weight bits · activation bits per sample (None until a
forward pass has recorded the shapes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from thrifty.quant.costs import bitops_cost, bits_cost, layer_bits, memory_cost
from thrifty.quant.quantize import INFO_ATTRIBUTE


@dataclass(frozen=True)
class LayerSummary:
    """One layer: bits are means over its channels/groups; None = that tensor stays float."""

    name: str
    type: str
    weight_bits: float | None
    activation_bits: float | None
    weight_elements: int
    activation_elements: int | None
    macs: int | None
    weight_granularity: str
    activation_granularity: str


@dataclass(frozen=True)
class QuantSummary:
    """Per-layer records, the means, and the layers left in float."""

    records: list[LayerSummary]
    mean_weight_bits: float | None
    mean_activation_bits: float | None
    mean_bits: float
    memory_weighted_bits: float | None
    bitops: float | None
    macs: int | None
    skipped: list[dict[str, str]]

    def to_dict(self) -> dict:
        """A JSON-ready dict (units: bits; bitops and macs per sample)."""
        return asdict(self)

    def table(self) -> str:
        """A fixed-width text table of the records and the means."""

        def fmt(value: object) -> str:
            if value is None:
                return "float"
            return f"{value:.3f}" if isinstance(value, float) else str(value)

        header = ("layer", "type", "w bits", "a bits", "w elems", "a elems", "MACs", "w gran")
        rows = [
            (
                r.name,
                r.type,
                fmt(r.weight_bits),
                fmt(r.activation_bits),
                str(r.weight_elements),
                "?" if r.activation_elements is None else str(r.activation_elements),
                "?" if r.macs is None else str(r.macs),
                r.weight_granularity,
            )
            for r in self.records
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
            for row in [header, *rows]
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        means = {
            "mean_weight_bits": self.mean_weight_bits,
            "mean_activation_bits": self.mean_activation_bits,
            "mean_bits": self.mean_bits,
            "memory_weighted_bits": self.memory_weighted_bits,
            "bitops": self.bitops,
        }
        for key, value in means.items():
            shown = "n/a (run a forward pass)" if value is None else f"{value:.4g}"
            lines.append(f"{key}: {shown}")
        for skipped in self.skipped:
            lines.append(f"float: {skipped['name']} ({skipped['type']}): {skipped['reason']}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summary(model: nn.Module) -> QuantSummary:
    """Summarise a quantized model's bitlengths (see the module docstring)."""
    records = layer_bits(model)
    rows = [
        LayerSummary(
            name=r.name,
            type=r.type,
            weight_bits=None if r.weight_bits is None else float(r.weight_bits.detach()),
            activation_bits=None
            if r.activation_bits is None
            else float(r.activation_bits.detach()),
            weight_elements=r.weight_elements,
            activation_elements=r.activation_elements,
            macs=r.macs,
            weight_granularity=r.weight_granularity,
            activation_granularity=r.activation_granularity,
        )
        for r in records
    ]
    shapes_known = all(r.macs is not None for r in records)
    macs = sum(r.macs for r in records) if shapes_known else None
    info = getattr(model, INFO_ATTRIBUTE, None)
    skipped = [] if info is None else [asdict(s) for s in info.skipped]
    return QuantSummary(
        records=rows,
        mean_weight_bits=_mean([r.weight_bits for r in rows if r.weight_bits is not None]),
        mean_activation_bits=_mean(
            [r.activation_bits for r in rows if r.activation_bits is not None]
        ),
        mean_bits=float(bits_cost(records).detach()),
        memory_weighted_bits=float(memory_cost(records).detach()) if shapes_known else None,
        bitops=float(bitops_cost(records).detach()) * macs if shapes_known else None,
        macs=macs,
        skipped=skipped,
    )
