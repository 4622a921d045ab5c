"""thrifty.quant: learned-bitlength quantization (docs/design.md §3).

quantize → train with `loss + BitlengthRegularizer(model)()` → freeze → fine-tune → summary.
"""

from thrifty.quant.checkpoint import load, save
from thrifty.quant.config import Granularity, LayerOverride, QuantConfig, QuantizerConfig
from thrifty.quant.costs import LayerBits, layer_bits
from thrifty.quant.matmul import MatMul, QuantMatMul
from thrifty.quant.modules import (
    QUANTIZED_MODULE_TYPES,
    OperandTap,
    QuantConv1d,
    QuantConv2d,
    QuantLinear,
)
from thrifty.quant.quantize import (
    dequantize,
    freeze,
    param_groups,
    quantization_info,
    quantize,
    quantized_layers,
)
from thrifty.quant.regularizer import BitlengthRegularizer
from thrifty.quant.summary import LayerSummary, QuantSummary, summary

__all__ = [
    "QUANTIZED_MODULE_TYPES",
    "BitlengthRegularizer",
    "Granularity",
    "LayerBits",
    "LayerOverride",
    "LayerSummary",
    "MatMul",
    "OperandTap",
    "QuantConfig",
    "QuantConv1d",
    "QuantConv2d",
    "QuantLinear",
    "QuantMatMul",
    "QuantSummary",
    "QuantizerConfig",
    "dequantize",
    "freeze",
    "layer_bits",
    "load",
    "param_groups",
    "quantization_info",
    "quantize",
    "quantized_layers",
    "save",
    "summary",
]
