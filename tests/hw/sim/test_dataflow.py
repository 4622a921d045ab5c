"""The lowering reproduces torch's three training operations and the analytical MAC counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.nn.grad import conv1d_input, conv1d_weight, conv2d_input, conv2d_weight

from thrifty.errors import SimulationError
from thrifty.hw.sim.dataflow import (
    assemble_output,
    geometry_from_dict,
    lower,
    product_shape,
)
from thrifty.trace.geometry import op_macs

# (in_channels, out_channels, kernel, stride, padding, dilation, groups, hw): ResNet-style
# 3×3 and 1×1 shortcut layers, strided, padded, dilated, grouped, depthwise, odd sizes.
CONV2D_CASES = [
    (3, 16, 3, 1, 1, 1, 1, 8),
    (16, 32, 3, 2, 1, 1, 1, 8),
    (16, 32, 1, 2, 0, 1, 1, 8),
    (4, 6, 3, 2, 0, 1, 1, 9),
    (4, 6, (3, 2), (2, 3), (1, 0), (2, 1), 2, 11),
    (8, 8, 3, 1, 1, 1, 8, 7),
    (6, 4, 5, 3, 4, 1, 2, 10),
    (2, 3, 3, 1, 2, 2, 1, 6),
]


def _geometry(kind, x, w, out, stride, padding, dilation, groups):
    """A trace geometry dict of the call (the MAC oracle reads it), normalised by `_run`."""
    return dict(
        {
            "kind": kind,
            "input_shape": list(x.shape),
            "weight_shape": list(w.shape),
            "output_shape": list(out.shape),
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "groups": groups,
            "bias": False,
            "dtype": "float64",
        }
    )


def _run(op, raw, tensors):
    geometry = geometry_from_dict(raw)
    product = lower(op, geometry, tensors, float64=True)
    outputs = [a @ b for a, b in zip(product.left, product.right, strict=True)]
    shape = product.shape
    assert shape.macs == op_macs(raw, op) == product_shape(geometry, op).macs
    return assemble_output(op, geometry, outputs)


@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d_three_ops_match_torch(case):
    cin, cout, k, s, p, d, g, hw = case
    x = torch.randn(2, cin, hw, hw + 1, dtype=torch.float64)
    kk = (k, k) if isinstance(k, int) else k
    w = torch.randn(cout, cin // g, *kk, dtype=torch.float64)
    out = F.conv2d(x, w, stride=s, padding=p, dilation=d, groups=g)
    grad = torch.randn_like(out)
    geo = _geometry("conv2d", x, w, out, s, p, d, g)
    fwd = _run("forward", geo, {"activation": x, "weight": w})
    np.testing.assert_allclose(fwd, out.numpy(), rtol=1e-12, atol=1e-12)
    dx = _run("backward_data", geo, {"grad_output": grad, "weight": w})
    ref_dx = conv2d_input(x.shape, w, grad, stride=s, padding=p, dilation=d, groups=g)
    np.testing.assert_allclose(dx, ref_dx.numpy(), rtol=1e-12, atol=1e-12)
    dw = _run("backward_weight", geo, {"grad_output": grad, "activation": x})
    ref_dw = conv2d_weight(x, w.shape, grad, stride=s, padding=p, dilation=d, groups=g)
    np.testing.assert_allclose(dw, ref_dw.numpy(), rtol=1e-12, atol=1e-12)


def test_conv1d_and_same_padding():
    x = torch.randn(3, 4, 17, dtype=torch.float64)
    w = torch.randn(6, 2, 4, dtype=torch.float64)
    for kwargs in ({"stride": 2, "padding": 1, "dilation": 2}, {"padding": "same", "dilation": 3}):
        out = F.conv1d(x, w, groups=2, **kwargs)
        grad = torch.randn_like(out)
        geo = _geometry(
            "conv1d", x, w, out, kwargs.get("stride", 1), kwargs["padding"], kwargs["dilation"], 2
        )
        np.testing.assert_allclose(
            _run("forward", geo, {"activation": x, "weight": w}), out.numpy(), atol=1e-12
        )
        if kwargs["padding"] == "same":
            # torch.nn.grad takes integer padding only: check against autograd instead.
            xr = x.clone().requires_grad_(True)
            wr = w.clone().requires_grad_(True)
            F.conv1d(xr, wr, groups=2, **kwargs).backward(grad)
            ref_dx, ref_dw = xr.grad, wr.grad
        else:
            ref_dx = conv1d_input(x.shape, w, grad, groups=2, **kwargs)
            ref_dw = conv1d_weight(x, w.shape, grad, groups=2, **kwargs)
        dx = _run("backward_data", geo, {"grad_output": grad, "weight": w})
        dw = _run("backward_weight", geo, {"grad_output": grad, "activation": x})
        np.testing.assert_allclose(dx, ref_dx.numpy(), atol=1e-12)
        np.testing.assert_allclose(dw, ref_dw.numpy(), atol=1e-12)


def test_linear_three_ops_with_leading_dims():
    x = torch.randn(2, 3, 5, dtype=torch.float64)
    w = torch.randn(7, 5, dtype=torch.float64)
    out = x @ w.T
    grad = torch.randn_like(out)
    geo = _geometry("linear", x, w, out, 1, 0, 1, 1)
    np.testing.assert_allclose(
        _run("forward", geo, {"activation": x, "weight": w}), out.reshape(6, 7).numpy()
    )
    np.testing.assert_allclose(
        _run("backward_data", geo, {"grad_output": grad, "weight": w}),
        (grad.reshape(6, 7) @ w).numpy(),
    )
    np.testing.assert_allclose(
        _run("backward_weight", geo, {"grad_output": grad, "activation": x}),
        (grad.reshape(6, 7).T @ x.reshape(6, 5)).numpy(),
    )


def test_resnet20_macs_match_textbook_counts():
    """Every conv/linear of ResNet-20 (batch 4): lowered MACs equal an independent count."""
    from thrifty.models import build_model

    model = build_model("resnet20", num_classes=10, in_channels=3, image_size=32)
    shapes = []

    def hook(module, inputs, output):
        shapes.append((module, tuple(inputs[0].shape), tuple(output.shape)))

    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            m.register_forward_hook(hook)
    model(torch.randn(4, 3, 32, 32))
    assert len(shapes) >= 20
    for module, in_shape, out_shape in shapes:
        is_conv = isinstance(module, torch.nn.Conv2d)
        raw = {
            "kind": "conv2d" if is_conv else "linear",
            "input_shape": in_shape,
            "weight_shape": tuple(module.weight.shape),
            "output_shape": out_shape,
            "stride": module.stride if is_conv else 1,
            "padding": module.padding if is_conv else 0,
            "dilation": module.dilation if is_conv else 1,
            "groups": module.groups if is_conv else 1,
        }
        geo = geometry_from_dict(raw)
        w_elems = module.weight.numel()
        out_elems = int(np.prod(out_shape))
        in_elems = int(np.prod(in_shape))
        if is_conv:
            per_out = module.in_channels // module.groups * np.prod(module.kernel_size)
            per_in = module.out_channels // module.groups * np.prod(module.kernel_size)
            expected = {"forward": out_elems * per_out, "backward_data": in_elems * per_in}
            expected["backward_weight"] = w_elems * out_shape[0] * out_shape[2] * out_shape[3]
        else:
            expected = dict.fromkeys(("forward", "backward_data", "backward_weight"),
                                     w_elems * in_shape[0])  # fmt: skip
        for op, macs in expected.items():
            assert product_shape(geo, op).macs == macs
            assert op_macs(raw, op) == macs


def test_strided_backward_data_zeros_are_real_zeros():
    x = torch.randn(1, 1, 6, 6)
    w = torch.randn(1, 1, 1, 1)
    out = F.conv2d(x, w, stride=2)
    geo = _geometry("conv2d", x, w, out, 2, 0, 1, 1)
    product = lower(
        "backward_data", geometry_from_dict(geo), {"grad_output": torch.ones_like(out), "weight": w}
    )
    column = product.left[0][:, 0]
    assert column.shape == (36,)
    assert int((column != 0).sum()) == 9  # 3×3 gradient values, 27 inserted zeros


def test_errors_name_the_problem():
    with pytest.raises(SimulationError, match="layer kind 'pool'"):
        geometry_from_dict({"kind": "pool"})
    geo = geometry_from_dict(
        {"kind": "linear", "input_shape": [2, 3], "weight_shape": [4, 3], "output_shape": [2, 4]}
    )
    with pytest.raises(SimulationError, match="missing \\['weight'\\]"):
        lower("forward", geo, {"activation": np.zeros((2, 3))})
    with pytest.raises(SimulationError, match="unknown operation 'sideways'"):
        product_shape(geo, "sideways")
