"""Per-channel and per-group ranges checked value by value against a straightforward reference.

The reference walks every element with explicit index arithmetic, finds the members of its
channel or group by that arithmetic (not by reshapes), takes their min and max, and quantizes the
element with numpy float32 scalar arithmetic in the formula's order: step = (hi - lo) / (2**b - 1),
q = round((x - lo) / step) * step + lo, round half to even. Every group's scale differs from the
others' and the tensor's global range is set by one group only, so a whole-tensor range (or the
range of the wrong channels) fails the comparison.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

import thrifty

BITS = 3


def _scaled(shape: tuple[int, ...], dim: int, seed: int) -> torch.Tensor:
    """Random values whose scale along `dim` grows tenfold every index step (plus an offset)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    scale_shape = [1] * len(shape)
    scale_shape[dim] = shape[dim]
    scales = 10.0 ** torch.arange(shape[dim], dtype=torch.float32).reshape(scale_shape)
    return (x * scales + 0.5 * scales).contiguous()


def _reference(x: np.ndarray, member_key) -> np.ndarray:
    """Quantize every element with the min/max of the elements sharing its `member_key`."""
    index = list(itertools.product(*(range(n) for n in x.shape)))
    groups: dict[object, list[float]] = {}
    for idx in index:
        groups.setdefault(member_key(idx), []).append(x[idx])
    out = np.empty_like(x)
    levels = np.float32(2**BITS - 1)
    for idx in index:
        members = groups[member_key(idx)]
        lo, hi = np.float32(min(members)), np.float32(max(members))
        step = (hi - lo) / levels if hi > lo else np.float32(1.0)
        out[idx] = np.float32(np.round((x[idx] - lo) / step)) * step + lo
    return out


def _quantized_operands(layer: nn.Module, granularity, x: torch.Tensor, activation=None):
    config = thrifty.QuantConfig.model_validate(
        {
            "weight": {"granularity": granularity, "init_bits": BITS},
            "activation": {"granularity": activation or granularity, "init_bits": BITS},
        }
    )
    model = thrifty.quantize(nn.Sequential(layer), config)
    seen = {}
    model[0].operand_tap.register_forward_hook(lambda m, a, out: seen.update(x=out[0], w=out[1]))
    model(x)
    return seen["x"].detach().numpy(), seen["w"].detach().numpy()


def _conv(weight: torch.Tensor) -> nn.Conv2d:
    o, i, kh, kw = weight.shape
    conv = nn.Conv2d(i, o, (kh, kw), bias=False)
    with torch.no_grad():
        conv.weight.copy_(weight)
    return conv


# Conv2d: weight (O=3, I=4, 2, 2): R = 16 values per output channel; input (N=2, C=4, 3, 3).
W_CONV = _scaled((3, 4, 2, 2), dim=0, seed=1)
X_CONV = _scaled((2, 4, 3, 3), dim=1, seed=2)


@pytest.mark.parametrize(
    ("granularity", "weight_key", "input_key"),
    [
        # weight (o, i, h, w): channel = o; group G of the flattened row r = i*4 + h*2 + w
        # input (n, c, h, w): channel = c; group G of consecutive channels
        ("channel", lambda k: k[0], lambda k: k[1]),
        (["group", 4], lambda k: (k[0], (k[1] * 4 + k[2] * 2 + k[3]) // 4), lambda k: k[1] // 4),
        (["group", 2], lambda k: (k[0], (k[1] * 4 + k[2] * 2 + k[3]) // 2), lambda k: k[1] // 2),
        ("tensor", lambda k: 0, lambda k: 0),
    ],
    ids=["channel", "group4", "group2", "tensor"],
)
def test_conv_ranges_element_by_element(granularity, weight_key, input_key) -> None:
    xq, wq = _quantized_operands(_conv(W_CONV), granularity, X_CONV)
    np.testing.assert_array_equal(wq, _reference(W_CONV.numpy(), weight_key))
    np.testing.assert_array_equal(xq, _reference(X_CONV.numpy(), input_key))


def test_weight_groups_follow_the_flattened_reduction_row() -> None:
    # Scales grow along the input channels of the weight (dim 1), so groups of 4 (one input
    # channel's 2x2 kernel each) and groups of 8 (two input channels) have different ranges.
    weight = _scaled((3, 4, 2, 2), dim=1, seed=3)
    for size in (4, 8):
        _, wq = _quantized_operands(_conv(weight), ["group", size], X_CONV, "tensor")
        key = lambda k, g=size: (k[0], (k[1] * 4 + k[2] * 2 + k[3]) // g)  # noqa: E731
        np.testing.assert_array_equal(wq, _reference(weight.numpy(), key))


@pytest.mark.parametrize(
    ("granularity", "input_key"),
    [("channel", lambda k: k[-1]), (["group", 3], lambda k: k[-1] // 3)],
    ids=["channel", "group3"],
)
def test_linear_input_channels_are_the_last_dimension(granularity, input_key) -> None:
    # A linear input (N, T, F) has its channels (features) last, whatever comes before.
    x = _scaled((2, 3, 6), dim=2, seed=4)
    linear = nn.Linear(6, 2)
    weight = _scaled((2, 6), dim=0, seed=5)
    with torch.no_grad():
        linear.weight.copy_(weight)
    xq, wq = _quantized_operands(linear, granularity, x)
    np.testing.assert_array_equal(xq, _reference(x.numpy(), input_key))
    weight_key = (lambda k: k[0]) if granularity == "channel" else (lambda k: (k[0], k[1] // 3))
    np.testing.assert_array_equal(wq, _reference(weight.numpy(), weight_key))


def test_a_whole_tensor_range_would_give_other_values() -> None:
    """The data make the check sharp: the tensor-wide reference differs from the per-channel one
    in every channel but the one that sets the global range."""
    per_channel = _reference(X_CONV.numpy(), lambda k: k[1])
    whole = _reference(X_CONV.numpy(), lambda k: 0)
    differs = [not np.array_equal(per_channel[:, c], whole[:, c]) for c in range(4)]
    assert differs == [True, True, True, False]
