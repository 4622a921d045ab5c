"""ONNX QDQ run by onnxruntime and QONNX run by qonnx's executor, against thrifty's frozen model.

Tolerances, and why:
- QONNX writes thrifty's own formula Δ·round((x − lo)/Δ) + lo operation for operation, so each
  quantizer gives the same values for the same input; the outputs differ only by float32
  summation order in the convolutions (~1e-7 relative), which may move a value across a
  rounding tie and change one code by one step. Asserted: every logit within 1e-4 of the
  logit range, and the same argmax on every test image.
- ONNX QDQ with int_symmetric weights is the same grid as thrifty's (zero point 0); executed
  as written (onnxruntime's graph optimizations off) the same bound as QONNX holds. With the
  default optimizations onnxruntime runs integer kernels that also quantize the bias (to the
  product of the input and weight scales) and requantize each output in fixed point: codes of
  intermediate activations may move by one step, so only the predictions are compared: the
  same argmax on ≥ 97 % of the test images (one differing prediction in 33 is allowed for the
  images whose two best logits are that close).
- Asymmetric weights (thrifty's default int kind): ONNX's zero point is an integer, thrifty's
  grid starts at the weight minimum lo, so the export rounds the zero point and each stored
  weight is within one step Δ of thrifty's (checked per weight); exact when lo is a multiple
  of Δ.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from torch import nn

import thrifty
from thrifty._process_state import ProcessState
from thrifty.errors import ExportError
from thrifty.export import export_onnx, export_qonnx, save_packed
from thrifty.export.qdq import _constants
from thrifty.quant import QuantConfig


def _ort(path, x: torch.Tensor, optimize: bool = True) -> np.ndarray:
    options = onnxruntime.SessionOptions()
    if not optimize:
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options)
    return session.run(None, {"input": x.numpy()})[0]


def _close(out: np.ndarray, reference: np.ndarray) -> None:
    spread = float(reference.max() - reference.min())
    assert np.abs(out - reference).max() <= 1e-4 * spread
    assert (out.argmax(1) == reference.argmax(1)).all()


def test_qdq_runs_in_onnxruntime_as_thrifty_computes(symmetric_digits, tmp_path):
    model, x, _ = symmetric_digits
    with torch.no_grad():
        reference = model(x).numpy()
    proto = export_onnx(model, x[:2], tmp_path / "m.onnx", provenance={"seed": 0})
    ops = [node.op_type for node in proto.graph.node]
    assert ops.count("QuantizeLinear") == 3 and ops.count("DequantizeLinear") == 6
    assert "BatchNormalization" not in ops  # folded into the convolutions
    tensors = [i for i in proto.graph.initializer if len(i.dims) >= 2]
    assert [i.data_type for i in tensors] == [onnx.TensorProto.INT8] * 3  # weights as codes
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["thrifty_version"] == thrifty.__version__ and meta["seed"] == "0"
    assert '"fold_batchnorm": true' in meta["thrifty_quant_config"]
    _close(_ort(tmp_path / "m.onnx", x, optimize=False), reference)
    integer = _ort(tmp_path / "m.onnx", x)  # the batch dimension is dynamic
    assert (integer.argmax(1) == reference.argmax(1)).mean() >= 0.97


def test_qonnx_runs_in_qonnx_as_thrifty_computes(symmetric_digits, tmp_path):
    model, x, _ = symmetric_digits
    with torch.no_grad():
        reference = model(x).numpy()
    export_qonnx(model, x, tmp_path / "m.qonnx.onnx")
    wrapper = ModelWrapper(str(tmp_path / "m.qonnx.onnx"))
    _close(execute_onnx(wrapper, {"input": x.numpy()})["output"], reference)
    # each Quant node carries its tensor's learned bitlength (the widest of its channels)
    widths = []
    for node in wrapper.graph.node:
        if node.op_type == "Quant":
            widths.append(float(wrapper.get_initializer(node.input[3])))
    expected = []
    for _, layer in thrifty.quant.quantized_layers(model):
        expected += [float(layer.input_quantizer.bitlength.max())]
        expected += [float(layer.weight_quantizer.bitlength.max())]
    assert sorted(widths) == sorted(expected)


class Plain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 2)
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def _frozen(config: dict, seed: int = 0, bits: dict | None = None) -> nn.Module:
    torch.manual_seed(seed)
    model = thrifty.quantize(Plain(), QuantConfig.model_validate(config))
    model.train()(torch.randn(32, 3, 5, 5))
    with torch.no_grad():
        for (name, role), values in (bits or {}).items():
            getattr(getattr(model, name), role).bitlength.copy_(values)
    return thrifty.freeze(model).eval()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_asymmetric_weights_are_within_one_step(seed, tmp_path):
    model = _frozen({"weight": {"granularity": "channel", "init_bits": 3}}, seed)
    proto = export_onnx(model, torch.randn(1, 3, 5, 5), tmp_path / "m.onnx")
    constants = _constants(proto.graph)
    nodes = [n for n in proto.graph.node if n.op_type == "DequantizeLinear"]
    stored = {}
    for node in nodes:
        codes, scale, zero_point = (constants.get(i) for i in node.input)
        if codes is not None:  # a weight: int codes in the file
            shape = (-1,) + (1,) * (codes.ndim - 1)
            scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
            stored[codes.ndim] = (codes.astype(np.float32) - zero_point) * scale
    for layer, ndim in ((model.conv, 4), (model.fc, 2)):
        weight = layer.weight_quantizer(layer.weight).detach().numpy()
        step = layer.weight_quantizer.layout.view(layer.weight)[0]
        step = (step.amax(1) - step.amin(1)).detach().numpy() / 7.0
        bound = step.reshape((-1,) + (1,) * (ndim - 1)) * (1 + 1e-6)
        assert (np.abs(stored[ndim] - weight) <= bound).all()


def test_per_channel_and_group_activations_and_mixed_bits(tmp_path):
    """Per-channel activations with different bitlengths, per-group symmetric weights
    (QONNX only) and an unquantized input: QONNX as thrifty; QDQ refuses the group weights."""
    config = {
        "weight": {"granularity": ["group", 4], "kind": "int_symmetric", "init_bits": 5},
        "activation": {"granularity": "channel"},
        "overrides": [{"pattern": "conv", "activation": {"enabled": False}}],
    }
    bits = {("fc", "input_quantizer"): torch.arange(128.0) % 5 + 2}
    model = _frozen(config, bits=bits)
    x = torch.randn(6, 3, 5, 5)
    with torch.no_grad():
        reference = model(x).numpy()
    proto = export_qonnx(model, x, tmp_path / "m.qonnx.onnx")
    out = execute_onnx(ModelWrapper(str(tmp_path / "m.qonnx.onnx")), {"input": x.numpy()})
    _close(out["output"], reference)
    meta = {p.key: p.value for p in proto.metadata_props}
    records = {r["layer"]: r for r in json.loads(meta["thrifty_bitlengths"])}
    assert records["fc"]["activation_bits_per_group"] == (torch.arange(128.0) % 5 + 2).tolist()
    with pytest.raises(ExportError, match=r"layer 'conv' weight has per-group bitlengths"):
        export_onnx(model, x, tmp_path / "m.onnx")


def test_qdq_per_channel_parameters_with_mixed_bits(tmp_path):
    """Symmetric per-channel weights and activations whose channels learned different
    bitlengths: each channel's own scale and clip; as written, onnxruntime computes thrifty's."""
    symmetric = {"kind": "int_symmetric", "granularity": "channel"}
    bits = {
        ("conv", "weight_quantizer"): torch.tensor([2.0, 3, 4, 5, 6, 7, 8, 3]),
        ("fc", "input_quantizer"): torch.arange(128.0) % 7 + 2,
    }
    model = _frozen({"weight": symmetric, "activation": symmetric}, bits=bits)
    x = torch.randn(6, 3, 5, 5)
    with torch.no_grad():
        reference = model(x).numpy()
    export_onnx(model, x[:1], tmp_path / "m.onnx")
    _close(_ort(tmp_path / "m.onnx", x, optimize=False), reference)


def test_what_qdq_cannot_hold_is_refused_by_name(tmp_path):
    x = torch.randn(1, 3, 5, 5)
    wide = _frozen({"overrides": [{"pattern": "fc", "weight": {"init_bits": 12}}]})
    with pytest.raises(ExportError, match=r"layer 'fc' weight has a 12-bit .* at most 8 bits"):
        export_onnx(wide, x, tmp_path / "m.onnx")
    mantissa = _frozen({"activation": {"kind": "float_mantissa"}})
    with pytest.raises(ExportError, match=r"layer 'conv' activation uses the float_mantissa"):
        export_onnx(mantissa, x, tmp_path / "m.onnx")
    with pytest.raises(ExportError, match=r"float_mantissa .* QONNX format cannot hold"):
        export_qonnx(mantissa, x, tmp_path / "m.onnx")
    far = _frozen({"weight": {"init_bits": 8}})
    with torch.no_grad():  # a weight range far from 0: zero point −round(lo/Δ) < 0
        far.fc.weight.add_(1.0 - far.fc.weight.min())
    with pytest.raises(ExportError, match=r"layer 'fc' weight: range \[1, .* needs zero point"):
        export_onnx(far, x, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_exports_leave_process_state_as_they_found_it(tmp_path):
    """Thread count, random states and warnings filters (the exporter's deprecation notice is
    silenced inside a catch_warnings block) are the caller's after every export."""
    model = _frozen({"weight": {"kind": "int_symmetric"}})
    x, fresh = torch.randn(2, 3, 5, 5), Plain()
    with warnings.catch_warnings():
        torch.manual_seed(1234)
        warnings.filterwarnings("error", message="a filter only this test sets")
        before = ProcessState.capture()
        export_onnx(model, x, tmp_path / "m.onnx")
        export_qonnx(model, x, tmp_path / "m.qonnx.onnx")
        save_packed(model, tmp_path / "m.safetensors")
        thrifty.fold_batchnorm(fresh)
        assert before.differences(ProcessState.capture()) == []
