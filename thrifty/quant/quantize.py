"""`quantize(model, config)`: swap every Conv1d, Conv2d and Linear for its quantized class.

In place, by walking `named_modules` (no graph tracing), so any model built from these layers
works. Exact types only: a subclass may override `forward` (e.g. the `out_proj` of
`nn.MultiheadAttention`, whose weights are read directly), so swapping it would silently do
nothing; such layers, and other layer types with weights (Conv3d, transposed convolutions), are
skipped with a warning that names them and the reason. Layers matched by `config.exclude` stay
float without a warning. `quantization_info(model)` returns both lists.

With `config.quantize_matmul`, the `thrifty.quant.MatMul` modules (products of two
activations, e.g. attention's) become `QuantMatMul`s too. They take part in `overrides` and
`exclude` patterns (their `activation` settings apply to both operands) but not in '@first' /
'@last', which name the first and last layer with a weight.

Also here: `freeze`, `param_groups`, `quantized_layers`.
"""

from __future__ import annotations

import fnmatch
import warnings
from dataclasses import dataclass, field

from torch import nn

from thrifty.errors import QuantizationError
from thrifty.quant.bn_pairs import ConvBnPair, UnfoldedBatchNorm, find_conv_bn_pairs
from thrifty.quant.config import FIRST_LAYER, LAST_LAYER, QuantConfig, QuantizerConfig
from thrifty.quant.fused import FUSED_CLASS_FOR, FUSED_MODULE_TYPES
from thrifty.quant.matmul import MatMul, QuantMatMul
from thrifty.quant.modules import QUANTIZED_CLASS_FOR, QUANTIZED_MODULE_TYPES

#: Every quantized module class: the layers with a weight and the product of two activations.
QUANTIZED_TYPES: tuple[type[nn.Module], ...] = (*QUANTIZED_MODULE_TYPES, QuantMatMul)

#: Default learning rate of the bitlengths, whatever the weights' rate is. Bitlengths live on a
#: 2–16 bit scale however large the weights' updates are, so a rate tied to the weights' (the
#: earlier 10 × lr) froze them when fine-tuning at 1e-4 or below. Chosen from
#: benchmarks/bits_lr.py (docs/quantization.md, "Bitlength learning rate").
DEFAULT_BITS_LR = 0.03

INFO_ATTRIBUTE = "_thrifty_quantization"

#: Layer types with weights that quantize() recognises but cannot quantize.
_UNSUPPORTED = (
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Bilinear,
)


@dataclass(frozen=True)
class SkippedLayer:
    """A layer left in float, and why."""

    name: str
    type: str
    reason: str


@dataclass
class QuantizationInfo:
    """What quantize() did to a model: its config, and the layers it left in float."""

    config: QuantConfig
    quantized: list[str] = field(default_factory=list)
    skipped: list[SkippedLayer] = field(default_factory=list)
    #: With `fold_batchnorm`: the folded (conv, batch norm) pairs, and the batch norms left.
    folded: list[ConvBnPair] = field(default_factory=list)
    unfolded: list[UnfoldedBatchNorm] = field(default_factory=list)


def _matches(pattern: str, name: str, first: str, last: str) -> bool:
    if pattern == FIRST_LAYER:
        return name == first
    if pattern == LAST_LAYER:
        return name == last
    return fnmatch.fnmatchcase(name, pattern)


def replace_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    """Put `module` where the submodule called `name` (dotted path) of `model` is."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def quantize(model: nn.Module, config: QuantConfig | None = None) -> nn.Module:
    """Quantize the weights and inputs of every Conv1d/Conv2d/Linear of `model`, in place.

    Grouped and depthwise convolutions included. With `config.fold_batchnorm`, each
    Conv→BatchNorm pair (`bn_pairs.find_conv_bn_pairs`) becomes one `QuantConvBn1d/2d` whose
    quantized weight is the folded one (`fused.py`), its batch norm's old place an nn.Identity.
    Returns `model`. Raises QuantizationError when the model is already quantized, has no
    quantizable layer, an override or exclude pattern matches no layer, a granularity does not
    fit a layer (the message names the layer), or folding finds no pair.
    """
    config = config or QuantConfig()
    if not isinstance(model, nn.Module):
        raise QuantizationError(f"quantize needs a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, QUANTIZED_TYPES) or any(
        isinstance(m, QUANTIZED_TYPES) for m in model.modules()
    ):
        raise QuantizationError(
            "the model is already quantized; quantize the float model once (use "
            "thrifty.load to rebuild a saved quantized model)"
        )
    if type(model) in QUANTIZED_CLASS_FOR:
        raise QuantizationError(
            f"quantize swaps layers inside a model; wrap the single {type(model).__name__} in "
            "an nn.Sequential first"
        )
    candidates: list[tuple[str, nn.Module]] = []
    products: list[tuple[str, nn.Module]] = []
    skipped: list[SkippedLayer] = []
    for name, module in model.named_modules():
        if type(module) is MatMul:
            if config.quantize_matmul:
                products.append((name, module))
        elif type(module) in QUANTIZED_CLASS_FOR:
            candidates.append((name, module))
        elif isinstance(module, tuple(QUANTIZED_CLASS_FOR)):
            skipped.append(
                SkippedLayer(
                    name,
                    type(module).__name__,
                    "subclass of a quantizable layer: its forward may not use its weight "
                    "through the float layer's forward, so swapping it could be silently "
                    "ineffective",
                )
            )
        elif isinstance(module, _UNSUPPORTED):
            skipped.append(SkippedLayer(name, type(module).__name__, "layer type not supported"))
    if not candidates:
        found = ", ".join(f"{s.name} ({s.type})" for s in skipped) or "none"
        raise QuantizationError(
            f"model {type(model).__name__} has no quantizable layer (exact nn.Conv1d, "
            f"nn.Conv2d or nn.Linear); layers with weights found: {found}"
        )
    first, last = candidates[0][0], candidates[-1][0]
    patterns = [o.pattern for o in config.overrides] + list(config.exclude)
    order = {name: index for index, (name, _) in enumerate(model.named_modules())}
    every = sorted(candidates + products, key=lambda item: order[item[0]])
    for pattern in patterns:
        if not any(_matches(pattern, name, first, last) for name, _ in every):
            raise QuantizationError(
                f"pattern {pattern!r} in the quantization config matches no quantizable layer; "
                f"layers are: {[name for name, _ in every]}"
            )
    info = QuantizationInfo(config=config, skipped=skipped)
    for name, module in products:
        if any(_matches(p, name, first, last) for p in config.exclude):
            info.skipped.append(SkippedLayer(name, type(module).__name__, "excluded by config"))
            continue
        _, activation_config = layer_configs(config, name, first, last)
        quantized = QuantMatMul.from_float(
            module,
            activation_config,
            name,
            config.activation_ema_momentum,
            config.activation_training_range,
        )
        replace_submodule(model, name, quantized)
        info.quantized.append(name)
    fold_for = _fold_plan(model, info) if config.fold_batchnorm else {}
    for name, module in candidates:
        if any(_matches(p, name, first, last) for p in config.exclude):
            info.skipped.append(SkippedLayer(name, type(module).__name__, "excluded by config"))
            if name in fold_for:
                pair = fold_for.pop(name)
                info.unfolded.append(
                    UnfoldedBatchNorm(pair.bn, f"its convolution {name!r} is excluded by config")
                )
            continue
        weight_config, activation_config = layer_configs(config, name, first, last)
        quantized = QUANTIZED_CLASS_FOR[type(module)].from_float(
            module,
            weight_config,
            activation_config,
            name,
            config.activation_ema_momentum,
            config.activation_training_range,
        )
        if name in fold_for:
            pair = fold_for[name]
            bn = model.get_submodule(pair.bn)
            quantized = FUSED_CLASS_FOR[type(quantized)].fuse(quantized, bn, pair.bn)
            replace_submodule(model, pair.bn, nn.Identity())
            info.folded.append(pair)
        replace_submodule(model, name, quantized)
        info.quantized.append(name)
    unexpected = [s for s in info.skipped if s.reason != "excluded by config"]
    if unexpected:
        warnings.warn(
            "thrifty.quantize left these layers in float: "
            + "; ".join(f"{s.name} ({s.type}): {s.reason}" for s in unexpected),
            stacklevel=2,
        )
    if info.unfolded:
        warnings.warn(
            "thrifty.quantize (fold_batchnorm) left these batch norms unfolded, in float: "
            + "; ".join(f"{u.name!r}: {u.reason}" for u in info.unfolded),
            stacklevel=2,
        )
    info.quantized.sort(key=order.__getitem__)  # registration order, products included
    setattr(model, INFO_ATTRIBUTE, info)
    return model


def _fold_plan(model: nn.Module, info: QuantizationInfo) -> dict[str, ConvBnPair]:
    """Conv name → its pair, for `fold_batchnorm`; records the unfoldable batch norms in `info`
    and raises QuantizationError when there is nothing to fold."""
    pairs, unfolded = find_conv_bn_pairs(model)
    info.unfolded.extend(unfolded)
    if not pairs:
        found = "; ".join(f"{u.name!r}: {u.reason}" for u in unfolded) or "none"
        raise QuantizationError(
            f"fold_batchnorm is set but model {type(model).__name__} has no foldable "
            f"Conv1d/Conv2d → BatchNorm1d/BatchNorm2d pair (batch norms found: {found}); set "
            "fold_batchnorm to false, or make each batch norm read only its convolution's output"
        )
    return {pair.conv: pair for pair in pairs}


def layer_configs(
    config: QuantConfig, name: str, first: str, last: str
) -> tuple[QuantizerConfig, QuantizerConfig]:
    """The (weight, activation) configs of layer `name` after applying matching overrides."""
    weight, activation = config.weight, config.activation
    for override in config.overrides:
        if _matches(override.pattern, name, first, last):
            weight = override.weight.apply(weight)
            activation = override.activation.apply(activation)
    return weight, activation


def quantization_info(model: nn.Module) -> QuantizationInfo:
    """The config and the quantized / skipped layers recorded by `quantize(model)`."""
    info = getattr(model, INFO_ATTRIBUTE, None)
    if info is None:
        raise QuantizationError(
            f"model {type(model).__name__} was not quantized by thrifty.quantize; call "
            "thrifty.quantize(model, config) first"
        )
    return info


def quantized_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every quantized layer (QuantMatMul included), in registration order."""
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, QUANTIZED_TYPES)]
    if not layers:
        raise QuantizationError(
            f"model {type(model).__name__} has no quantized layer; call "
            "thrifty.quantize(model) first"
        )
    return layers


def bit_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every bitlength parameter of the quantized layers (learnable or not)."""
    params = []
    for _, layer in quantized_layers(model):
        params += [getattr(layer, role).bitlength for role in layer.quantizer_roles]
    return params


def freeze(model: nn.Module) -> nn.Module:
    """Phase 2 of the recipe: round every bitlength up to an integer and stop it learning."""
    for _, layer in quantized_layers(model):
        for role in layer.quantizer_roles:
            getattr(layer, role).freeze_()
    return model


def param_groups(
    model: nn.Module, lr: float, bits_lr: float | None = None, weight_decay: float = 0.0
) -> list[dict]:
    """Optimizer parameter groups: the model's parameters, then the learnable bitlengths.

    The bitlength group has learning rate `bits_lr` (default `DEFAULT_BITS_LR`, independent of
    `lr`: it suits Adam-style optimizers, whose steps do not scale with the gradient; plain
    SGD needs a far larger one, see docs/quantization.md) and no weight decay; both groups carry
    a "name" key ("weights", "bitlengths"). Parameters that do not require grad (frozen or
    fixed bitlengths included) are left out.
    """
    if lr <= 0 or (bits_lr is not None and bits_lr <= 0):
        raise QuantizationError(f"learning rates must be positive, got lr={lr}, bits_lr={bits_lr}")
    bits_ids = {id(p) for p in bit_parameters(model)}
    weights = [p for p in model.parameters() if id(p) not in bits_ids and p.requires_grad]
    bits = [p for p in model.parameters() if id(p) in bits_ids and p.requires_grad]
    groups: list[dict] = [
        {"params": weights, "lr": lr, "weight_decay": weight_decay, "name": "weights"}
    ]
    if bits:
        groups.append(
            {
                "params": bits,
                "lr": DEFAULT_BITS_LR if bits_lr is None else bits_lr,
                "weight_decay": 0.0,
                "name": "bitlengths",
            }
        )
    return groups


def dequantize(model: nn.Module) -> nn.Module:
    """The way back: replace every quantized layer by its float layer (same parameters)."""
    for name, layer in quantized_layers(model):
        replace_submodule(model, name, layer.to_float())
        if isinstance(layer, FUSED_MODULE_TYPES):  # the batch norm goes back to its place
            replace_submodule(model, layer.bn_name, layer.bn)
    if hasattr(model, INFO_ATTRIBUTE):
        delattr(model, INFO_ATTRIBUTE)
    return model


__all__ = [
    "DEFAULT_BITS_LR",
    "QUANTIZED_TYPES",
    "QuantizationInfo",
    "SkippedLayer",
    "bit_parameters",
    "dequantize",
    "freeze",
    "layer_configs",
    "param_groups",
    "quantization_info",
    "quantize",
    "quantized_layers",
]
