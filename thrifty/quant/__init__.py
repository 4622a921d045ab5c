"""thrifty.quant: learned-bitlength quantization (docs/design.md §3).

quantize → train with `loss + BitlengthRegularizer(model)()` → freeze → fine-tune → summary.
Batch norms fold into their convolutions during training with `QuantConfig(fold_batchnorm=True)`
(`fused.py`) and for deployment with `fold_batchnorm(model)` (`folding.py`).
"""

from thrifty.quant.bn_pairs import ConvBnPair, find_conv_bn_pairs
from thrifty.quant.checkpoint import load, save
from thrifty.quant.config import (
    Granularity,
    LayerOverride,
    QuantConfig,
    QuantizerConfig,
    TermsConfig,
)
from thrifty.quant.costs import LayerBits, layer_bits, set_term_counting
from thrifty.quant.folding import fold_batchnorm
from thrifty.quant.fused import QuantConvBn1d, QuantConvBn2d
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
    "ConvBnPair",
    "Granularity",
    "LayerBits",
    "LayerOverride",
    "LayerSummary",
    "MatMul",
    "OperandTap",
    "QuantConfig",
    "QuantConv1d",
    "QuantConv2d",
    "QuantConvBn1d",
    "QuantConvBn2d",
    "QuantLinear",
    "QuantMatMul",
    "QuantSummary",
    "QuantizerConfig",
    "TermsConfig",
    "dequantize",
    "find_conv_bn_pairs",
    "fold_batchnorm",
    "freeze",
    "layer_bits",
    "load",
    "param_groups",
    "quantization_info",
    "quantize",
    "quantized_layers",
    "save",
    "set_term_counting",
    "summary",
]
