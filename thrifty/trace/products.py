"""Products of two activations called as torch functions: seen through a TorchFunctionMode.

A user's model may multiply activations without any module: `torch.matmul(q, k.transpose(-2,
-1))`, `a @ b`, `torch.bmm`, or `F.scaled_dot_product_attention` (SDPA). During a captured
step's forward pass the capture pushes a `ProductMode`; it lets every call through and hands
these products to the capture, which records them like a layer named after the function
(`matmul`, `bmm`, `scaled_dot_product_attention.qk` / `.av`), numbered by `call`.

SDPA is one fused call whose two products are not observable, so inside a captured step it is
computed by its explicit decomposition (`sdpa_decomposed`):

    S = Q·Kᵀ                      recorded: role attention_qk, A = Q, B = Kᵀ, scale recorded
    P = softmax(S·scale + mask)   mask: additive float, or boolean (False → −∞), or causal
    P = dropout(P, dropout_p)     when dropout_p > 0, as SDPA does (training or not)
    O = P·V                       recorded: role attention_av, A = P (after dropout), B = V

It equals the fused call up to float rounding (the tests bound the difference); dropout draws
its mask differently from the fused kernels. Products inside a `thrifty.quant.MatMul` module
are recorded by the module's hooks, not here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

#: The plain product functions the mode records, by the name their entries get.
PRODUCT_FUNCTIONS: dict[Callable[..., Any], str] = {
    torch.matmul: "matmul",
    torch.Tensor.matmul: "matmul",
    torch.Tensor.__matmul__: "matmul",
    torch.bmm: "bmm",
    torch.Tensor.bmm: "bmm",
}
SDPA_NAME = "scaled_dot_product_attention"

#: record(name, a, b, output, role, scale): what the mode calls for each product.
Recorder = Callable[[str, torch.Tensor, torch.Tensor, torch.Tensor, str, float | None], None]


def sdpa_decomposed(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    record: Recorder | None = None,
) -> torch.Tensor:
    """`F.scaled_dot_product_attention` by its two explicit products (see the module)."""
    factor = 1.0 / math.sqrt(query.size(-1)) if scale is None else float(scale)
    if enable_gqa and key.size(-3) != query.size(-3):
        repeat = query.size(-3) // key.size(-3)
        key = key.repeat_interleave(repeat, dim=-3)
        value = value.repeat_interleave(repeat, dim=-3)
    key_t = key.transpose(-2, -1)
    scores = torch.matmul(query, key_t)
    if record is not None:
        record(f"{SDPA_NAME}.qk", query, key_t, scores, "attention_qk", factor)
    logits = scores * factor
    length, source = query.size(-2), key.size(-2)
    if is_causal:
        keep = torch.ones(length, source, dtype=torch.bool, device=query.device).tril()
        logits = logits.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            logits = logits.masked_fill(~attn_mask, float("-inf"))
        else:
            logits = logits + attn_mask
    probs = torch.softmax(logits, dim=-1)
    if dropout_p > 0.0:
        probs = F.dropout(probs, p=dropout_p, training=True)
    out = torch.matmul(probs, value)
    if record is not None:
        record(f"{SDPA_NAME}.av", probs, value, out, "attention_av", None)
    return out


class ProductMode(TorchFunctionMode):
    """Passes every torch call through; reports matmul / bmm / @ and decomposes SDPA.

    `active()` is asked before each product: it is False inside a `MatMul` module (whose hooks
    record it) or while the capture is paused, and then the call runs untouched.
    """

    def __init__(self, record: Recorder, active: Callable[[], bool]) -> None:
        super().__init__()
        self._record = record
        self._active = active

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention and self._active():
            return sdpa_decomposed(*args, **kwargs, record=self._record)
        name = PRODUCT_FUNCTIONS.get(func)
        output = func(*args, **kwargs)
        if name is not None and len(args) >= 2 and self._active():
            self._record(name, args[0], args[1], output, "matmul", None)
        return output


__all__ = ["PRODUCT_FUNCTIONS", "SDPA_NAME", "ProductMode", "sdpa_decomposed"]
