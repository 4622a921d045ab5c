"""Matrix products between two activations as modules: `MatMul` and its quantized `QuantMatMul`.

Attention multiplies activations by activations (Q·Kᵀ, softmax·V); there is no weight, so
`quantize()` cannot see such a product inside a model's `forward`. A model that computes it
through a `MatMul` module (as torch.ao's `FloatFunctional` does for additions) makes it a named
layer: `quantize(model, QuantConfig(quantize_matmul=True))` swaps it for a `QuantMatMul`, and
the trace capture records it like a Linear layer.

`QuantMatMul` quantizes both operands with learnable bitlengths: `input_quantizer` for the left
operand A and `other_quantizer` for the right operand B, both built from the activation config
(overrides' `activation` settings apply to both). Both are quantized per tensor: the operands'
sizes are unknown until the first call, so a channel or group granularity cannot be laid out
in advance. The two quantized operands pass through `operand_tap`, as in the other quantized
layers, so a trace records them as multiplied.

Each call records per-sample sizes for the costs: `macs` (output elements × K), and the
elements of A (`activation_elements`) and of B (`other_elements`); a sample is one index of
the first dimension when the operands have more than two.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from thrifty.errors import QuantizationError
from thrifty.quant.config import Granularity, QuantizerConfig
from thrifty.quant.layout import Layout
from thrifty.quant.modules import DEFAULT_EMA_MOMENTUM, OperandTap
from thrifty.quant.quantizers import ActivationQuantizer

#: What a product is, for traces and reports: attention's scores Q·Kᵀ, its weighted sum
#: softmax·V, or any other product of two activations.
MatMulKind = Literal["matmul", "attention_qk", "attention_av"]
MATMUL_KINDS: tuple[str, ...] = ("matmul", "attention_qk", "attention_av")

_PER_TENSOR = Layout(Granularity("tensor"), (), 1)


class MatMul(nn.Module):
    """`torch.matmul(a, b)` as a module; `kind` names the product for traces and reports."""

    def __init__(self, kind: MatMulKind = "matmul") -> None:
        super().__init__()
        if kind not in MATMUL_KINDS:
            raise QuantizationError(
                f"MatMul kind {kind!r} is unknown; choose one of {list(MATMUL_KINDS)}"
            )
        self.kind = kind

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)

    def extra_repr(self) -> str:
        return f"kind={self.kind}"


def _per_sample(x: torch.Tensor) -> int:
    return x.numel() // max(x.shape[0], 1) if x.ndim > 2 else x.numel()


class QuantMatMul(MatMul):
    """MatMul with both operands quantized; build with `QuantMatMul.from_float(matmul)`."""

    #: The quantizer submodules, for freeze / checkpoints / bit_parameters.
    quantizer_roles: tuple[str, ...] = ("input_quantizer", "other_quantizer")

    @classmethod
    def from_float(
        cls,
        module: MatMul,
        activation_config: QuantizerConfig | None = None,
        name: str = "",
        ema_momentum: float = DEFAULT_EMA_MOMENTUM,
        training_range: str = "batch",
    ) -> QuantMatMul:
        """A quantized copy of `module` (same hooks); both operands use `activation_config`
        at tensor granularity."""
        if type(module) is not MatMul:
            raise QuantizationError(
                f"QuantMatMul.from_float needs an exact MatMul, got {type(module).__name__} "
                f"for layer {name!r}"
            )
        config = (activation_config or QuantizerConfig()).model_copy(
            update={"granularity": Granularity("tensor")}
        )
        quantized = cls.__new__(cls)
        for key, value in module.__dict__.items():  # new registries, same members
            quantized.__dict__[key] = type(value)(value) if isinstance(value, dict) else value
        quantized.input_quantizer = ActivationQuantizer(
            config, _PER_TENSOR, name, ema_momentum, training_range
        )
        quantized.other_quantizer = ActivationQuantizer(
            config, _PER_TENSOR, name, ema_momentum, training_range
        )
        quantized.operand_tap = OperandTap()
        quantized.layer_name = name
        quantized.macs = None
        quantized.activation_elements = None
        quantized.other_elements = None
        return quantized

    def to_float(self) -> MatMul:
        """The float MatMul again, without the quantizers."""
        module = MatMul.__new__(MatMul)
        for key, value in self.__dict__.items():
            module.__dict__[key] = type(value)(value) if isinstance(value, dict) else value
        for key in ("input_quantizer", "other_quantizer", "operand_tap"):
            module._modules.pop(key, None)
        for key in ("layer_name", "macs", "activation_elements", "other_elements"):
            module.__dict__.pop(key, None)
        return module

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a_q, b_q = self.operand_tap(self.input_quantizer(a), self.other_quantizer(b))
        out = torch.matmul(a_q, b_q)
        self.macs = _per_sample(out) * a.shape[-1]
        self.activation_elements = _per_sample(a)
        self.other_elements = _per_sample(b)
        return out


__all__ = ["MATMUL_KINDS", "MatMul", "MatMulKind", "QuantMatMul"]
