"""Learn bitlengths for a small CNN with batch norm on the bundled digits, fold the batch norms,
and export the frozen model three ways: a packed integer checkpoint, ONNX QDQ run by
onnxruntime, and QONNX run by qonnx's executor — each compared with thrifty's own output.

    python docs/examples/export_model.py [OUT_FOLDER or -] [WEIGHT_KIND]    # seconds, one core

WEIGHT_KIND is the weights' quantizer: int_symmetric (default here: its grid is ONNX's, so
the QDQ file computes what thrifty computes) or int (asymmetric min-max, thrifty's default).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from sklearn.datasets import load_digits
from torch import nn

import thrifty
from thrifty.export import export_onnx, export_qonnx, load_packed, save_packed

SEED = 0


def make_model() -> nn.Module:
    """conv-bn-relu, conv-bn-relu (stride 2), linear: 8×8 digits → 10 classes."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1, stride=2, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )


def digits() -> tuple[torch.Tensor, ...]:
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(SEED))
    x, y = x[order], y[order]
    return x[:1400], y[:1400], x[1400:], y[1400:]


def fit(model, x, y, optimizer, steps, regularizer=None) -> None:
    model.train()
    generator = torch.Generator().manual_seed(SEED + 1)
    for _ in range(steps):
        batch = torch.randint(0, len(y), (128,), generator=generator)
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        if regularizer is not None:
            loss = loss + regularizer()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def main(out: Path, weight_kind: str) -> None:
    torch.manual_seed(SEED)
    x_train, y_train, x_test, y_test = digits()
    model = make_model()
    fit(model, x_train, y_train, torch.optim.Adam(model.parameters(), 3e-3), 100)

    # quantize with batch-norm folding, learn the bitlengths, freeze, fine-tune
    weight = {"granularity": "channel", "kind": weight_kind}
    config = thrifty.QuantConfig(fold_batchnorm=True, weight=weight)
    thrifty.quantize(model, config)
    regularizer = thrifty.BitlengthRegularizer(model, criterion="memory", strength=0.2)
    optimizer = torch.optim.Adam(thrifty.param_groups(model, lr=1e-3, bits_lr=0.1))
    fit(model, x_train, y_train, optimizer, 60, regularizer)
    thrifty.freeze(model)
    fit(model, x_train, y_train, torch.optim.Adam(thrifty.param_groups(model, lr=5e-4)), 20)
    model.eval()
    with torch.no_grad():
        reference = model(x_test).numpy()
    accuracy = (reference.argmax(1) == y_test.numpy()).mean() * 100
    means = thrifty.summary(model)
    print(
        f"thrifty: accuracy {accuracy:.1f}%, mean weight bits {means.mean_weight_bits:.2f}, "
        f"memory_weighted_bits {means.memory_weighted_bits:.3f} (weights and activations)"
    )

    # 1. packed integer checkpoint: loads back bit for bit
    size = save_packed(model, out / "model.packed.safetensors")
    weight_bits = sum(r.weight_elements * r.weight_bits for r in means.records)
    loaded = load_packed(make_model(), out / "model.packed.safetensors")
    with torch.no_grad():
        same = np.array_equal(loaded(x_test).numpy(), reference)
    print(
        f"packed: {size.file_bytes} bytes; codes {size.codes_bytes} bytes for {weight_bits:.0f} "
        f"weight bits ({weight_bits / 8:.1f} bytes); float32 weights would take "
        f"{sum(r.weight_elements for r in means.records) * 4} bytes; reloaded bit for bit: {same}"
    )

    # 2. ONNX QuantizeLinear/DequantizeLinear, run by onnxruntime
    export_onnx(model, x_test[:1], out / "model.onnx")
    as_written = onnxruntime.SessionOptions()  # no graph optimizations: float Conv on DQ values
    as_written.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    for name, options in (("integer kernels", None), ("as written", as_written)):
        session = onnxruntime.InferenceSession(str(out / "model.onnx"), options)
        onnx_out = session.run(None, {"input": x_test.numpy()})[0]
        print(
            f"onnx ({name}): max |onnxruntime − thrifty| "
            f"{np.abs(onnx_out - reference).max():.2e} (logits up to "
            f"{np.abs(reference).max():.2f}); argmax agreement "
            f"{(onnx_out.argmax(1) == reference.argmax(1)).mean() * 100:.1f}%; accuracy "
            f"{(onnx_out.argmax(1) == y_test.numpy()).mean() * 100:.1f}%"
        )

    # 3. QONNX: Quant nodes with the learned bitlengths, run by qonnx's executor
    export_qonnx(model, x_test, out / "model.qonnx.onnx")
    qonnx_out = execute_onnx(ModelWrapper(str(out / "model.qonnx.onnx")), {"input": x_test.numpy()})
    qonnx_out = qonnx_out["output"]
    print(
        f"qonnx: max |qonnx − thrifty| {np.abs(qonnx_out - reference).max():.2e}; argmax "
        f"agreement {(qonnx_out.argmax(1) == reference.argmax(1)).mean() * 100:.1f}%"
    )


if __name__ == "__main__":
    kind = sys.argv[2] if len(sys.argv) > 2 else "int_symmetric"
    if len(sys.argv) > 1 and sys.argv[1] != "-":
        main(Path(sys.argv[1]), kind)
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder), kind)
