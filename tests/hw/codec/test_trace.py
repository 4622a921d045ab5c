"""The codec on a real trace folder: lossless on every tensor, accounting, `thrifty compress`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import thrifty.trace
from thrifty.cli import app
from thrifty.errors import ConfigError, NumericsError
from thrifty.hw.codec import CodecConfig, decode, encode, encoded_size_bits
from thrifty.hw.codec.accounting import TENSOR_CLASSES, measure_trace
from thrifty.models import build_model


@pytest.fixture(scope="module")
def trace_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two training steps of the small CNN on ReLU-sparse random images, fully captured."""
    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=28)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    folder = tmp_path_factory.mktemp("trace")
    with thrifty.trace.capture(model, folder):
        for _ in range(2):
            images = torch.relu(torch.randn(4, 1, 28, 28))
            labels = torch.randint(0, 10, (4,))
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return folder


def test_every_tensor_of_a_trace_round_trips_in_every_mode(trace_folder: Path) -> None:
    entries = list(thrifty.trace.open(trace_folder))
    assert {e.op for e in entries} == {"forward", "backward_data", "backward_weight"}
    checked = 0
    for entry in entries:
        for name in entry.tensors:
            x = entry.tensors[name].to(torch.bfloat16)
            for mode in ("exponent_delta", "value_delta", "none"):
                for group in (8, 16, 32):
                    encoded = encode(x, group=group, mode=mode)
                    y = decode(encoded)
                    assert torch.equal(y.view(torch.int16), x.view(torch.int16)), (entry, name)
                    checked += 1
    assert checked > 100


def test_accounting_matches_independent_sizes(trace_folder: Path) -> None:
    config = CodecConfig(group=8, mode="value_delta")
    report = measure_trace(trace_folder, config, check_lossless=True)
    expected_bits = 0
    expected_values = 0
    for entry in thrifty.trace.open(trace_folder):
        for name in entry.tensors:
            x = entry.tensors[name].to(torch.bfloat16)
            expected_bits += encoded_size_bits(x, config)
            expected_values += x.numel()
    total = report.total()
    assert (total.encoded_bits, total.numel) == (expected_bits, expected_values)
    assert sum(s.encoded_bits for s in report.by_op().values()) == expected_bits
    assert sum(s.encoded_bits for s in report.by_layer().values()) == expected_bits
    assert set(report.by_layer()) == {"conv1", "conv2", "fc1", "fc2"}
    assert set(report.by_class()) == set(TENSOR_CLASSES.values())
    # Each stored tensor counts once per class: fewer than the operand uses.
    assert sum(s.tensors for s in report.by_class().values()) < total.tensors
    assert report.to_dict()["converted_to_bfloat16"] == ["float32"]


def test_plain_mode_costs_sixteen_bits_and_zeros_compress(trace_folder: Path) -> None:
    plain = measure_trace(trace_folder, CodecConfig(mode="none", zero_bitmap=False))
    assert plain.total().bits_per_value == 16.0
    coded = measure_trace(trace_folder, CodecConfig())
    # Gradients behind ReLU and max-pooling are mostly zero: far below 16 bits.
    assert coded.by_class()["gradient"].bits_per_value < 8.0
    assert coded.total().encoded_bits < plain.total().encoded_bits


def test_measure_trace_rejects_integer_tensors() -> None:
    class _Entry:
        layer, op, epoch, step = "fc", "forward", 0, 0
        tensors = {"activation": torch.ones(2, 3, dtype=torch.int32)}  # noqa: RUF012

    with pytest.raises(NumericsError, match="int32 cannot be encoded"):
        measure_trace([_Entry()])


def test_compress_command(trace_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        [
            "compress",
            str(trace_folder),
            "--group",
            "8",
            "--check-lossless",
            "--out",
            str(out),
            "--set",
            "zero_bitmap=false",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "per tensor class" in result.output and "gradient" in result.output
    assert "round-trip bit for bit" in result.output
    data = json.loads(out.read_text())
    assert data["config"]["group"] == 8 and data["config"]["zero_bitmap"] is False
    assert set(data["report"]["by_class"]) == {"activation", "weight", "gradient"}


def test_compress_command_rejects_bad_options(trace_folder: Path) -> None:
    result = CliRunner().invoke(app, ["compress", str(trace_folder), "--mode", "zip"])
    assert isinstance(result.exception, ConfigError)
    assert "mode" in str(result.exception)
    result = CliRunner().invoke(app, ["compress", str(trace_folder), "--set", "groups=8"])
    assert isinstance(result.exception, ConfigError)
    assert "unknown key 'groups'" in str(result.exception)
