"""The geometry dict reproduces the layer: resolved padding, MAC count (property tests)."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given
from hypothesis import strategies as st
from torch import nn

from thrifty.errors import TraceError
from thrifty.trace.geometry import layer_geometry, macs, op_macs


@given(
    dims=st.sampled_from([1, 2]),
    kernel=st.integers(1, 5),
    dilation=st.integers(1, 3),
    stride=st.integers(1, 3),
    padding=st.sampled_from(["same", "valid", 0, 1, 2]),
    groups=st.sampled_from([1, 2, 4]),
    bias=st.booleans(),
)
@example(dims=2, kernel=4, dilation=1, stride=1, padding="same", groups=1, bias=True)
@example(dims=1, kernel=2, dilation=3, stride=1, padding="same", groups=4, bias=False)
def test_resolved_padding_and_macs_reproduce_the_conv(
    dims, kernel, dilation, stride, padding, groups, bias
):
    if padding == "same":
        stride = 1  # PyTorch allows 'same' only with stride 1
    conv_type = nn.Conv2d if dims == 2 else nn.Conv1d
    conv = conv_type(
        4, 4, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias
    )
    x = torch.randn((2, 4) + (16,) * dims)  # >= the largest dilated kernel (13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = conv(x)
    g = layer_geometry(conv, x.shape, conv.weight.shape, out.shape, x.dtype)
    pads = [p for d in reversed(range(dims)) for p in (g["padding"][d], g["padding_end"][d])]
    functional = F.conv2d if dims == 2 else F.conv1d
    again = functional(
        F.pad(x, pads),
        conv.weight,
        conv.bias,
        stride=g["stride"],
        dilation=g["dilation"],
        groups=g["groups"],
    )
    torch.testing.assert_close(again, out, atol=1e-5, rtol=1e-5)
    assert g["kind"] == f"conv{dims}d" and g["bias"] == bias and g["dtype"] == "float32"
    # Independent MAC count: one product per (output element, weight element of its group).
    per_output = (4 // groups) * kernel**dims
    assert macs(g) == out.numel() * per_output


def test_linear_geometry_has_no_spatial_fields():
    linear = nn.Linear(6, 3, bias=False)
    x = torch.randn(5, 2, 6)
    g = layer_geometry(linear, x.shape, linear.weight.shape, linear(x).shape, torch.bfloat16)
    assert g == {
        "kind": "linear",
        "input_shape": [5, 2, 6],
        "weight_shape": [3, 6],
        "output_shape": [5, 2, 3],
        "groups": 1,
        "bias": False,
        "dtype": "bfloat16",
    }
    assert macs(g) == 5 * 2 * 3 * 6


def test_op_macs_counts_the_dilated_gradient_of_backward_data():
    geometry = {  # 3×3 convolution, stride 2, 8 → 4 in, 6 → 4 channels
        "kind": "conv2d",
        "input_shape": [2, 6, 8, 8],
        "weight_shape": [4, 6, 3, 3],
        "output_shape": [2, 4, 4, 4],
        "groups": 1,
    }
    forward = 2 * 4 * 4 * 4 * (6 * 9)
    assert op_macs(geometry, "forward") == op_macs(geometry, "backward_weight") == forward
    assert macs(geometry) == forward
    assert op_macs(geometry, "backward_data") == 2 * 8 * 8 * 6 * (4 * 9)
    with pytest.raises(TraceError, match="unknown operation 'sideways'"):
        op_macs(geometry, "sideways")
