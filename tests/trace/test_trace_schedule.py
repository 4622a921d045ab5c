"""Schedules, layer and op choices, no_grad, budget, ranks."""

from __future__ import annotations

import copy
import json
import warnings

import pytest
import torch
from torch import nn

import thrifty.trace as tt
from tests.trace._trace_nets import tiny_mlp
from thrifty._config import parse_config
from thrifty.errors import ConfigError, TraceError
from thrifty.trace import capturing as capture_module
from thrifty.trace.store import TraceWriter


def _train(model, cap, epochs=3, steps=4, x=None):
    """A plain loop announcing each step; returns the steps the capture said it records."""
    x = torch.randn(2, 6) if x is None else x
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    captured = []
    for epoch in range(epochs):
        for step in range(steps):
            if cap.step(epoch=epoch, step=step, last_step=step == steps - 1):
                captured.append((epoch, step))
            optimizer.zero_grad()
            model(x).square().sum().backward()
            optimizer.step()
    return captured


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"epochs": [0, 2], "steps": "last"}, [(0, 3), (2, 3)]),
        ({"steps": "first"}, [(0, 0), (1, 0), (2, 0)]),
        ({"epochs": [1], "steps": [1, 2]}, [(1, 1), (1, 2)]),
        ({"epochs": "all", "steps": "all"}, [(e, s) for e in range(3) for s in range(4)]),
    ],
)
def test_schedule_chooses_epochs_and_steps(tmp_path, settings, expected):
    model = tiny_mlp()
    with tt.capture(model, tmp_path / "t", tt.TraceConfig(**settings)) as cap:
        captured = _train(model, cap)
    assert captured == expected
    trace = tt.open(tmp_path / "t")
    assert sorted({(e.epoch, e.step) for e in trace}) == expected
    # 2 layers; the first has no backward_data (its input needs no gradient): 5 per step.
    assert len(trace) == 5 * len(expected)


def test_uncaptured_steps_have_no_hooks_attached(tmp_path):
    model = tiny_mlp()
    config = tt.TraceConfig(steps=[1])
    with tt.capture(model, tmp_path / "t", config) as cap:
        cap.step(epoch=0, step=0)
        assert all(not m._forward_hooks for m in model.modules())
        cap.step(epoch=0, step=1)
        assert model[0]._forward_hooks and model[2]._forward_hooks
        cap.step(epoch=0, step=2)
        assert all(not m._forward_hooks for m in model.modules())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_weights_as_stored_change_between_captured_steps(tmp_path):
    """Each entry holds a snapshot: the optimizer's later in-place updates do not leak in."""
    model = tiny_mlp()
    x = torch.randn(2, 6)
    # The weights each step sees, from an uncaptured copy trained the same way: before step 0
    # and after one SGD step (lr 0.1 on the loss _train uses).
    shadow = copy.deepcopy(model)
    expected = [shadow[0].weight.detach().clone()]
    optimizer = torch.optim.SGD(shadow.parameters(), lr=0.1)
    shadow(x).square().sum().backward()
    optimizer.step()
    expected.append(shadow[0].weight.detach().clone())
    with tt.capture(model, tmp_path / "t") as cap:
        _train(model, cap, epochs=1, steps=2, x=x)
    weights = [e.tensors["weight"] for e in tt.open(tmp_path / "t").select(layer="0", op="forward")]
    assert len(weights) == 2 and not torch.equal(weights[0], weights[1])
    for stored, want in zip(weights, expected, strict=True):
        torch.testing.assert_close(stored, want, atol=0, rtol=0)
    assert not torch.equal(weights[1], model[0].weight.detach())  # updated after step 1


def test_layers_and_ops_choose_what_is_recorded(tmp_path):
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3), nn.Linear(3, 2))
    config = tt.TraceConfig(layers=["2", "3"], ops=["backward_data"])
    with tt.capture(model, tmp_path / "t", config):
        model(torch.randn(2, 6)).sum().backward()
    entries = list(tt.open(tmp_path / "t"))
    assert sorted((e.layer, e.op) for e in entries) == [
        ("2", "backward_data"),
        ("3", "backward_data"),
    ]
    # Only weight and grad_output were needed: no activation file was written.
    files = json.loads((tmp_path / "t" / "manifest.json").read_text())["files"]
    assert len(files) == 4


def test_automatic_steps_without_step_calls(tmp_path):
    model = tiny_mlp()
    with tt.capture(model, tmp_path / "t"):
        for _ in range(3):
            model(torch.randn(2, 6)).sum().backward()
    trace = tt.open(tmp_path / "t")
    assert sorted({(e.epoch, e.step) for e in trace}) == [(0, 0), (0, 1), (0, 2)]
    manifest = trace.stores[0].manifest
    assert manifest["complete"] is True and manifest["format_version"] == tt.FORMAT_VERSION


def test_no_grad_evaluation_records_forward_only(tmp_path):
    model = tiny_mlp()
    with tt.capture(model, tmp_path / "t"), torch.no_grad():
        model(torch.randn(2, 6))
    assert sorted((e.layer, e.op) for e in tt.open(tmp_path / "t")) == [
        ("0", "forward"),
        ("2", "forward"),
    ]
    config = tt.TraceConfig(ops=["backward_weight"])
    with tt.capture(model, tmp_path / "b", config), torch.no_grad():
        model(torch.randn(2, 6))
    assert len(tt.open(tmp_path / "b")) == 0


def test_budget_stops_capturing_with_a_warning_and_training_goes_on(tmp_path):
    model = tiny_mlp()
    config = tt.TraceConfig(max_bytes=1500)
    warns = pytest.warns(RuntimeWarning, match="budget max_bytes=1500 reached")
    with warns, tt.capture(model, tmp_path / "t", config) as cap:
        _train(model, cap, epochs=2, steps=3)
        assert not cap.step(epoch=5, step=0)  # stopped for good: nothing attached
        assert all(not m._forward_hooks for m in model.modules())
    trace = tt.open(tmp_path / "t")
    manifest = trace.stores[0].manifest
    assert 0 < manifest["bytes_total"] <= 1500
    assert sum(f.stat().st_size for f in (tmp_path / "t").glob("*.safetensors")) <= 1500
    assert trace.stopped and "budget" in trace.stopped[0]
    for entry in trace:  # every entry the manifest lists is readable
        for name in entry.tensors:
            assert entry.tensors[name].numel() > 0


def test_unmatched_layer_patterns_are_a_config_error(tmp_path):
    message = r"matches no Conv1d/Conv2d/Linear/MatMul layer.*\['0', '2'\]"
    with pytest.raises(ConfigError, match=message):
        tt.Capture(tiny_mlp(), tmp_path / "t", tt.TraceConfig(layers=["conv*"]))


def test_config_from_yaml_section_and_its_errors():
    config = parse_config(tt.TraceConfig, {"epochs": [0, 5, 10], "steps": "last"}, "trace")
    assert config.epochs == [0, 5, 10] and config.ops == list(tt.OPS)
    with pytest.raises(ConfigError, match="unknown key 'step'"):
        parse_config(tt.TraceConfig, {"step": "last"}, "trace")
    with pytest.raises(ConfigError, match="ops"):
        parse_config(tt.TraceConfig, {"ops": ["backward"]}, "trace")
    with pytest.raises(ConfigError, match=">= 0"):
        parse_config(tt.TraceConfig, {"epochs": [-1]}, "trace")
    with pytest.raises(ConfigError, match="max_bytes"):
        parse_config(tt.TraceConfig, {"max_bytes": 0}, "trace")


def test_steps_last_without_last_step_warns(tmp_path):
    model = tiny_mlp()
    warns = pytest.warns(RuntimeWarning, match="last_step=True")
    with warns, tt.capture(model, tmp_path / "t", tt.TraceConfig(steps="last")) as cap:
        cap.step(epoch=0, step=0)
        model(torch.randn(2, 6)).sum().backward()
    assert len(tt.open(tmp_path / "t")) == 0


def test_capturing_into_an_existing_store_is_refused(tmp_path):
    model = tiny_mlp()
    with tt.capture(model, tmp_path / "t"):
        pass
    with pytest.raises(TraceError, match="already holds a trace store"):
        tt.Capture(model, tmp_path / "t", tt.TraceConfig())


def test_ranks_zero_captures_nothing_on_other_ranks(tmp_path, monkeypatch):
    monkeypatch.setattr(capture_module, "rank_and_world", lambda: (1, 2))
    model = tiny_mlp()
    with tt.capture(model, tmp_path / "t") as cap:
        assert not cap.step(epoch=0, step=0)
        model(torch.randn(2, 6)).sum().backward()
    assert not (tmp_path / "t").exists()
    assert all(not m._forward_hooks for m in model.modules())


def test_ranks_all_writes_one_folder_per_rank(tmp_path, monkeypatch):
    model = tiny_mlp()
    for rank in (0, 1):
        monkeypatch.setattr(capture_module, "rank_and_world", lambda r=rank: (r, 2))
        with tt.capture(model, tmp_path / "t", tt.TraceConfig(ranks="all")):
            model(torch.randn(2, 6)).sum().backward()
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["rank0", "rank1"]
    trace = tt.open(tmp_path / "t")
    assert sorted({e.rank for e in trace}) == [0, 1] and len(trace) == 10
    assert len(tt.open(tmp_path / "t" / "rank1")) == 5


def test_under_a_real_process_group(tmp_path):
    """torch.distributed (gloo, one process): ranks='all' writes rank0 and records the world."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        model = nn.parallel.DistributedDataParallel(tiny_mlp())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with tt.capture(model, tmp_path / "t", tt.TraceConfig(ranks="all")):
                model(torch.randn(2, 6)).sum().backward()
    finally:
        dist.destroy_process_group()
    trace = tt.open(tmp_path / "t")
    assert {e.layer for e in trace} == {"module.0", "module.2"}
    assert trace.stores[0].manifest["world_size"] == 1


def test_paused_blocks_record_nothing(tmp_path):
    model = tiny_mlp()
    with tt.capture(model, tmp_path / "t") as cap:
        model(torch.randn(2, 6)).sum().backward()
        with cap.paused(), torch.no_grad():
            model(torch.randn(2, 6))
            assert all(not m._forward_hooks for m in model.modules())
        model(torch.randn(2, 6)).sum().backward()
    trace = tt.open(tmp_path / "t")
    assert sorted({(e.step, e.call) for e in trace}) == [(0, 0), (1, 0)] and len(trace) == 10


class _FakeCuda:
    """A CUDA stand-in for a CPU-only torch: every tensor counts as a device tensor, and the real
    `_async_host_copy` runs — pinned buffer, non_blocking copy, event recorded on the current
    stream — against fakes that log what happens, so the test sees each pinned copy and checks
    that its event was synchronized before the file holding it was written."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pinned: list[torch.Tensor] = []  # buffers allocated with pin_memory=True
        self.events: list[_FakeCuda.Event] = []
        self.writes = 0
        fake = self
        real_empty = torch.empty

        def empty(*args, pin_memory=False, **kwargs):
            buffer = real_empty(*args, **kwargs)
            if pin_memory:
                fake.pinned.append(buffer)
            return buffer

        class Event:
            def __init__(self) -> None:
                self.buffer = fake.pinned[-1]  # recorded right after the copy into it
                self.recorded = self.synchronized = False
                fake.events.append(self)

            def record(self, stream: str) -> None:
                assert stream == "current stream"
                self.recorded = True

            def synchronize(self) -> None:
                assert self.recorded
                self.synchronized = True

        self.Event = Event
        real_write = TraceWriter.write_file

        def write_file(writer, layer, part, tensors):
            for tensor in tensors.values():
                owners = [e for e in fake.events if e.buffer is tensor]
                assert len(owners) == 1, "a written tensor is not a pinned copy"
                assert owners[0].synchronized, "written before its copy's event completed"
            fake.writes += 1
            return real_write(writer, layer, part, tensors)

        monkeypatch.setattr(capture_module, "_needs_async_copy", lambda t: True)
        monkeypatch.setattr(torch, "empty", empty)
        monkeypatch.setattr(torch.cuda, "Event", Event)
        monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: "current stream")
        monkeypatch.setattr(TraceWriter, "write_file", write_file)


def test_deferred_device_copies_are_written_at_the_step_boundary(tmp_path, monkeypatch):
    """The CUDA path on CPU: pinned copies, events recorded, synchronized before each write."""
    fake = _FakeCuda(monkeypatch)
    model = tiny_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    x = torch.randn(2, 6)
    before = [model[0].weight.detach().clone()]
    with tt.capture(model, tmp_path / "t") as cap:
        cap.step(epoch=0, step=0)
        model(x).square().sum().backward()
        optimizer.step()  # changes the weights in place before anything is written
        assert len(tt.open(tmp_path / "t")) == 0  # nothing on disk during the step
        assert fake.events and not any(e.synchronized for e in fake.events)
        cap.step(epoch=0, step=1)
        assert len(tt.open(tmp_path / "t")) == 5
        assert all(e.synchronized for e in fake.events)
        before.append(model[0].weight.detach().clone())
        model(x).square().sum().backward()
    weights = [e.tensors["weight"] for e in tt.open(tmp_path / "t").select(layer="0", op="forward")]
    for stored, expected in zip(weights, before, strict=True):
        torch.testing.assert_close(stored, expected, atol=0, rtol=0)
    assert len(tt.open(tmp_path / "t")) == 10
    # one pinned buffer and one event per tensor stored; every file went through the fake
    assert len(fake.pinned) == len(fake.events) > 0 and fake.writes > 0
    assert all(e.synchronized for e in fake.events)


def test_without_pinned_memory_the_device_copy_is_synchronous(tmp_path, monkeypatch):
    """CPU-only torch refuses pin_memory=True: the fallback copies at once and records no event."""
    monkeypatch.setattr(capture_module, "_needs_async_copy", lambda t: True)
    model = tiny_mlp()
    x = torch.randn(2, 6)
    copy_, event = capture_module._async_host_copy(x)
    assert event is None and torch.equal(copy_, x)  # (a real device tensor's .to("cpu") copies)
    with tt.capture(model, tmp_path / "t") as cap:
        _train(model, cap, epochs=1, steps=2, x=x)
    assert len(tt.open(tmp_path / "t")) == 10


def test_budget_holds_for_deferred_device_copies(tmp_path, monkeypatch):
    fake = _FakeCuda(monkeypatch)
    model = tiny_mlp()
    warns = pytest.warns(RuntimeWarning, match="budget max_bytes=2000 reached")
    with warns, tt.capture(model, tmp_path / "t", tt.TraceConfig(max_bytes=2000)) as cap:
        _train(model, cap, epochs=1, steps=4)
    trace = tt.open(tmp_path / "t")
    assert 0 < trace.stores[0].manifest["bytes_total"] <= 2000
    assert _read_all(trace) == len(trace) > 0
    assert fake.events and all(e.synchronized for e in fake.events if e.buffer is not None)


def _read_all(trace) -> int:
    for entry in trace:
        for name in entry.tensors:
            entry.tensors[name]
    return len(trace)
