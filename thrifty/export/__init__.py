"""thrifty.export: take a frozen quantized model out of PyTorch.

- `save_packed` / `load_packed`: the packed integer checkpoint (each weight bit-packed at its
  learned width, with its range), loaded back bit for bit;
- `export_onnx`: ONNX with QuantizeLinear/DequantizeLinear pairs (int8/uint8, ≤ 8 bits);
- `export_qonnx`: QONNX, whose `Quant` nodes carry any learned bitlength.

All read the model through `params.deployment_copy`: frozen bitlengths, learned activation
ranges, batch norms folded. What a format cannot hold raises `thrifty.ExportError`.
"""

try:  # the [export] extra: onnx and qonnx (onnxruntime only runs the files)
    import onnx  # noqa: F401
    import qonnx  # noqa: F401
except ModuleNotFoundError as _missing:
    raise ModuleNotFoundError(
        f"thrifty.export needs the optional dependency {_missing.name!r}; install it with "
        "pip install 'thrifty[export]'"
    ) from None

from thrifty.export.packed import PackedSize, load_packed, packed_weights, save_packed
from thrifty.export.qdq import export_onnx
from thrifty.export.qonnx_format import export_qonnx

__all__ = [
    "PackedSize",
    "export_onnx",
    "export_qonnx",
    "load_packed",
    "packed_weights",
    "save_packed",
]
