"""What every exported file records about where it came from: the thrifty version, the format,
the QuantConfig and the bitlengths — per layer, and per channel or group where they vary at
that granularity — (and, from the CLI, the run's config and seed)."""

from __future__ import annotations

import json
from typing import Any

import onnx
from torch import nn

from thrifty._version import __version__
from thrifty.quant.quantize import quantization_info, quantized_layers
from thrifty.quant.summary import summary


def export_metadata(model: nn.Module, format_name: str) -> dict[str, str]:
    """String key → JSON string: the provenance block of an exported file."""
    info = quantization_info(model)
    records = [
        {"layer": r.name, "weight_bits": r.weight_bits, "activation_bits": r.activation_bits}
        for r in summary(model).records
    ]
    for record, (_, layer) in zip(records, quantized_layers(model), strict=True):
        for role, quantizer in (
            ("weight", layer.weight_quantizer),
            ("activation", layer.input_quantizer),
        ):
            if quantizer.bits is not None and quantizer.bits.numel() > 1:  # per channel / group
                record[f"{role}_bits_per_group"] = quantizer.bits.detach().flatten().tolist()
    return {
        "thrifty_version": __version__,
        "thrifty_format": format_name,
        "thrifty_quant_config": json.dumps(info.config.model_dump(mode="json")),
        "thrifty_bitlengths": json.dumps(records),
    }


def attach_metadata(
    exported: onnx.ModelProto,
    model: nn.Module,
    format_name: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """Add `export_metadata` (and `extra`, JSON-encoded) to an ONNX model's metadata_props."""
    entries = export_metadata(model, format_name)
    entries.update({key: json.dumps(value) for key, value in (extra or {}).items()})
    for key, value in entries.items():
        prop = exported.metadata_props.add()
        prop.key, prop.value = key, value


__all__ = ["attach_metadata", "export_metadata"]
