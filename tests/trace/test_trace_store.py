"""The store survives a SIGKILL at any moment; damaged files raise TraceError naming them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import thrifty.trace as tt
from tests.trace._trace_nets import tiny_mlp
from thrifty.errors import TraceError

REPO = Path(__file__).resolve().parents[2]

# Trains forever, capturing every step, so that a kill lands while files are being written.
_CHILD = """
import sys, torch
from torch import nn
import thrifty.trace as tt
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1))
x = torch.randn(8, 3, 32, 32)
with tt.capture(model, sys.argv[1]):
    while True:
        model(x).square().mean().backward()
"""


def _store(tmp_path: Path) -> Path:
    folder = tmp_path / "t"
    model = tiny_mlp()
    with tt.capture(model, folder):
        model(torch.randn(2, 6)).sum().backward()
    return folder


def _read_everything(folder: Path) -> int:
    count = 0
    for entry in tt.open(folder):
        for name in entry.tensors:
            assert entry.tensors[name].shape == torch.Size(entry.tensors.info(name)["shape"])
        count += 1
    return count


def test_a_killed_capture_leaves_a_readable_store(tmp_path):
    folder = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(folder)], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until several steps are on disk
            manifest = folder / "manifest.json"
            if manifest.exists() and len(json.loads(manifest.read_text())["entries"]) >= 12:
                break
            assert child.poll() is None, "the capturing child died on its own"
            time.sleep(0.05)
        else:
            pytest.fail("the child did not capture 12 entries in 120 s")
        time.sleep(0.13)  # an arbitrary moment in the middle of capturing
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert _read_everything(folder) >= 12
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] is False  # the block never ended
    for name, info in manifest["files"].items():
        assert (folder / name).stat().st_size == info["bytes"]


def test_a_truncated_file_raises_naming_it(tmp_path):
    folder = _store(tmp_path)
    entry = next(iter(tt.open(folder)))
    name = entry.tensors.info("activation")["file"]
    path = folder / name
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(TraceError, match=f"{name}.*truncated"):
        next(iter(tt.open(folder))).tensors["activation"]


def test_a_corrupted_file_raises_naming_it(tmp_path):
    folder = _store(tmp_path)
    name = next(iter(tt.open(folder))).tensors.info("weight")["file"]
    data = bytearray((folder / name).read_bytes())
    data[-1] ^= 0xFF
    (folder / name).write_bytes(bytes(data))
    with pytest.raises(TraceError, match=f"{name}.*corrupted"):
        next(iter(tt.open(folder))).tensors["weight"]
    # Without the checksum the damage is undetectable here: the size still matches.
    assert next(iter(tt.open(folder, verify=False))).tensors["weight"].numel() == 30
    # A damaged header is still caught without checksums.
    (folder / name).write_bytes(b"\xff" * len(data))
    with pytest.raises(TraceError, match=f"{name}.*not valid safetensors"):
        next(iter(tt.open(folder, verify=False))).tensors["weight"]


def test_a_missing_file_raises_naming_it(tmp_path):
    folder = _store(tmp_path)
    name = next(iter(tt.open(folder))).tensors.info("weight")["file"]
    (folder / name).unlink()
    with pytest.raises(TraceError, match=f"{name}.*cannot be read"):
        next(iter(tt.open(folder))).tensors["weight"]


def test_damaged_or_unknown_manifests_are_refused(tmp_path):
    folder = _store(tmp_path)
    manifest_path = folder / "manifest.json"
    text = manifest_path.read_text()
    manifest_path.write_text(text[: len(text) // 2])
    with pytest.raises(TraceError, match="manifest.json.*corrupted"):
        tt.open(folder)
    data = json.loads(text)
    manifest_path.write_text(json.dumps({**data, "format_version": tt.FORMAT_VERSION + 1}))
    with pytest.raises(TraceError, match=f"format_version {tt.FORMAT_VERSION + 1}.*upgrade"):
        tt.open(folder)
    manifest_path.write_text(json.dumps({"format": "other"}))
    with pytest.raises(TraceError, match="not a thrifty trace manifest"):
        tt.open(folder)
    with pytest.raises(TraceError, match="no trace store.*manifest.json is missing"):
        tt.open(tmp_path / "nowhere")


def test_manifest_describes_every_entry(tmp_path):
    folder = _store(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == "thrifty-trace"
    assert set(manifest) >= {"thrifty_version", "config", "files", "entries", "bytes_total"}
    assert manifest["bytes_total"] == sum(f["bytes"] for f in manifest["files"].values())
    for raw in manifest["entries"]:
        assert set(raw["tensors"]) == set(tt.OP_TENSORS[raw["op"]])
        for ref in raw["tensors"].values():
            assert ref["file"] in manifest["files"] and ref["dtype"] == "float32"
    assert not list(folder.glob(".*.tmp"))  # no temporary file left after a clean run
    trace = tt.open(folder)
    assert repr(trace).startswith("Trace(5 entries")
    assert "activation: float32[2, 6]" in repr(next(iter(trace)).tensors)


def test_a_hand_edited_tensor_shape_in_the_manifest_is_detected(tmp_path):
    folder = _store(tmp_path)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    ref = manifest["entries"][0]["tensors"]["weight"]
    true_shape = list(ref["shape"])
    ref["shape"] = [true_shape[0] + 1, *true_shape[1:]]
    manifest_path.write_text(json.dumps(manifest))
    entry = next(iter(tt.open(folder)))
    assert entry.tensors.info("weight")["shape"] == ref["shape"]  # no tensor read yet
    with pytest.raises(
        TraceError,
        match=re.escape(f"manifest {str(manifest_path)!r} says tensor 'weight' is float32")
        + re.escape(f"{ref['shape']}, but ")
        + ".* holds "
        + re.escape(f"float32{true_shape}: the manifest was edited or damaged"),
    ):
        entry.tensors["weight"]
