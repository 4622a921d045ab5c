"""Which batch norms directly follow which convolution: the pairs that can be folded.

Found from the module graph when `torch.fx.symbolic_trace` can trace the model: a pair is a
`BatchNorm1d`/`BatchNorm2d` call whose only input is the output of an exact `Conv1d`/`Conv2d`
call (of the matching dimension and channel count) that nothing else reads, each module called
once. When the model cannot be traced (data-dependent control flow, say), the pairs come from
module order instead: consecutive (convolution, batch norm) children of an exact `nn.Sequential`,
whose forward is known to chain them. Every other batch norm is reported with the reason it
cannot be folded; it stays a float batch norm.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn

from thrifty.quant.modules import QUANTIZED_MODULE_TYPES, QuantConv1d, QuantConv2d

#: Convolution type → the batch norm type that may follow it. Quantized convolutions are
#: listed so that `fold_batchnorm` can name a pair that was quantized without folding.
_BN_FOR_CONV: dict[type[nn.Module], type[nn.Module]] = {
    nn.Conv1d: nn.BatchNorm1d,
    nn.Conv2d: nn.BatchNorm2d,
    QuantConv1d: nn.BatchNorm1d,
    QuantConv2d: nn.BatchNorm2d,
}
_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)


class _Tracer(torch.fx.Tracer):
    """fx tracer that keeps thrifty's quantized layers as leaves (their quantizers branch on
    their state, which fx cannot trace)."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, QUANTIZED_MODULE_TYPES) or super().is_leaf_module(
            module, qualified_name
        )


@dataclass(frozen=True)
class ConvBnPair:
    """A convolution and the batch norm that reads only its output; `method` says how the pair
    was found: "fx" (module graph) or "sequential" (order inside an nn.Sequential)."""

    conv: str
    bn: str
    method: str


@dataclass(frozen=True)
class UnfoldedBatchNorm:
    """A batch norm left unfolded, and why."""

    name: str
    reason: str


def _pair_problem(conv: nn.Module, bn: nn.Module) -> str | None:
    """Why `bn` cannot fold into `conv`, or None when it can."""
    if type(conv) not in _BN_FOR_CONV:
        return f"its input comes from a {type(conv).__name__}, not a Conv1d/Conv2d"
    if type(bn) is not _BN_FOR_CONV[type(conv)]:
        return f"a {type(bn).__name__} cannot fold into a {type(conv).__name__}"
    if not bn.track_running_stats or bn.running_var is None:
        return "it keeps no running statistics (track_running_stats=False)"
    if bn.num_features != conv.out_channels:
        return f"{bn.num_features} features against {conv.out_channels} conv output channels"
    return None


def _fx_pairs(model: nn.Module) -> tuple[list[ConvBnPair], dict[str, str]] | None:
    """Pairs from the fx graph and the reasons of the other batch norms; None if untraceable."""
    try:
        graph = _Tracer().trace(model)
    except Exception:  # fx raises many types for untraceable code: fall back to module order
        return None
    modules = dict(model.named_modules())
    calls = Counter(node.target for node in graph.nodes if node.op == "call_module")
    pairs: list[ConvBnPair] = []
    reasons: dict[str, str] = {}
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), _BN_TYPES):
            continue
        source = node.args[0] if node.args else None
        if not isinstance(source, torch.fx.Node) or source.op != "call_module":
            reasons[node.target] = "its input is not the output of a module"
            continue
        if calls[node.target] > 1 or calls[source.target] > 1:
            reasons[node.target] = "the batch norm or its convolution is called more than once"
            continue
        if len(source.users) != 1:
            reasons[node.target] = f"the output of {source.target!r} is also read elsewhere"
            continue
        problem = _pair_problem(modules[source.target], modules[node.target])
        if problem is not None:
            reasons[node.target] = problem
            continue
        pairs.append(ConvBnPair(source.target, node.target, "fx"))
    return pairs, reasons


def _sequential_pairs(model: nn.Module) -> list[ConvBnPair]:
    """Consecutive (conv, batch norm) children of every exact nn.Sequential."""
    pairs = []
    for name, module in model.named_modules():
        if type(module) is not nn.Sequential:
            continue
        children = list(module.named_children())
        for (conv_name, conv), (bn_name, bn) in itertools.pairwise(children):
            if isinstance(bn, _BN_TYPES) and _pair_problem(conv, bn) is None:
                prefix = f"{name}." if name else ""
                pairs.append(ConvBnPair(prefix + conv_name, prefix + bn_name, "sequential"))
    return pairs


def find_conv_bn_pairs(model: nn.Module) -> tuple[list[ConvBnPair], list[UnfoldedBatchNorm]]:
    """(foldable pairs in graph order, the batch norms that are not folded and why)."""
    found = _fx_pairs(model)
    if found is not None:
        pairs, reasons = found
    else:
        pairs, reasons = _sequential_pairs(model), {}
    paired = {pair.bn for pair in pairs}
    unfolded = []
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and name not in paired:
            reason = reasons.get(name) or (
                "torch.fx cannot trace the model and it is not right after a convolution "
                "inside an nn.Sequential"
                if found is None
                else "it is not called in the traced forward"
            )
            unfolded.append(UnfoldedBatchNorm(name, reason))
    return pairs, unfolded


__all__ = ["ConvBnPair", "UnfoldedBatchNorm", "find_conv_bn_pairs"]
