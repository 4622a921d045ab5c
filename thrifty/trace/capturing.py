"""`capture(model, folder, config)`: record the operands of every chosen layer's three operations.

How it works. On a captured step a forward hook on each chosen Conv1d/Conv2d/Linear records
the activation and weight *as multiplied*: for a thrifty-quantized layer (one with an
`operand_tap` submodule, called with the quantized operands right before the multiplication)
the inputs of that tap, else the layer's input and `weight`; under autocast both are cast to
the dtype of the layer's output, as autocast does. The same hook registers a tensor hook on
the layer's output, which receives exactly the gradient autograd feeds the layer's backward
(hooks registered before an in-place op see the gradient of the value before it).

  forward          activation ∗ weight       recorded if "forward" is chosen
  backward_data    grad_output ∗ weight      recorded if the activation requires grad
  backward_weight  grad_output ⋆ activation  recorded if the weight requires grad

so a layer's backward operations are recorded exactly when autograd performs them (the first
layer, whose input needs no gradient, has no backward_data; `torch.no_grad` passes have no
backward at all). On steps that are not captured no hook is attached at all.

Products of two activations (format version 2) are recorded the same way, A as `activation`
and B as `weight` (backward_data is then dA = dC·Bᵀ, backward_weight dB = Aᵀ·dC): by the hooks
of `thrifty.quant.MatMul` modules (quantized ones through their tap), and, with
`config.functions`, by a `ProductMode` (`thrifty.trace.products`) pushed around each captured
forward of the model, which sees `torch.matmul` / `@` / `torch.bmm` calls and computes
`F.scaled_dot_product_attention` by its two explicit products.

Where training is. With no `step` call every top-level forward of `model` is a new step
(epoch 0, step 0, 1, 2, ...) and, with the default config, everything is recorded. A loop
with a schedule calls `cap.step(epoch=..., step=..., last_step=...)` before each training step.

CPU tensors are written to their file inside the hook; CUDA tensors are copied into pinned CPU
memory with non_blocking copies and written at the next step boundary (or when the block
ends), so training does not wait for the transfer. The manifest is rewritten once per step.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from thrifty.errors import ConfigError
from thrifty.quant.matmul import MatMul
from thrifty.trace.config import TraceConfig
from thrifty.trace.format import RANK_FOLDER
from thrifty.trace.geometry import CAPTURED_TYPES, dtype_name, layer_geometry, matmul_geometry
from thrifty.trace.products import ProductMode
from thrifty.trace.store import TraceWriter


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of this process under torch.distributed, (0, 1) outside it."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def select_layers(model: nn.Module, patterns: list[str]) -> list[tuple[str, nn.Module]]:
    """(name, module) of every Conv1d/Conv2d/Linear/MatMul whose name matches a pattern."""
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, CAPTURED_TYPES)]
    chosen = [(n, m) for n, m in layers if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if not chosen:
        raise ConfigError(
            f"trace.layers {patterns} matches no Conv1d/Conv2d/Linear/MatMul layer of the "
            "model; its "
            f"layers are {[n for n, _ in layers]}: use fnmatch patterns on these names"
        )
    return chosen


def _needs_async_copy(tensor: torch.Tensor) -> bool:
    """Whether a tensor lives on a device that copies to the host asynchronously (CUDA)."""
    return tensor.is_cuda


def _async_host_copy(tensor: torch.Tensor) -> tuple[torch.Tensor, Any]:
    """(CPU copy, CUDA event recorded after it) of a CUDA tensor, using pinned memory and a
    non_blocking copy on the current stream; the copy is complete once the event is."""
    try:
        buffer = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    except RuntimeError:  # no pinned memory available: a plain (synchronous) copy
        return tensor.to("cpu"), None
    buffer.copy_(tensor, non_blocking=True)
    event = torch.cuda.Event()
    event.record(torch.cuda.current_stream(tensor.device))
    return buffer, event


@dataclass
class _Group:
    """Tensors of one layer call that go into one file; `file` is set once written."""

    layer: str
    part: str
    tensors: dict[str, torch.Tensor]
    meta: dict[str, dict[str, Any]]  # dtype and shape of each tensor, for the manifest
    events: list[Any] = field(default_factory=list)  # CUDA events ending the host copies
    file: str | None = None
    failed: bool = False


@dataclass
class _PendingEntry:
    op: str
    context: dict[str, Any]
    refs: dict[str, tuple[_Group, str]] = field(default_factory=dict)


class Capture:
    """The object `capture` yields: call `step` before each training step of a scheduled loop."""

    def __init__(self, model: nn.Module, folder: str | Path, config: TraceConfig) -> None:
        self.config = config
        self.layers = select_layers(model, config.layers)
        rank, world = rank_and_world()
        self.rank = rank
        self.writer: TraceWriter | None = None
        if config.ranks == "all":
            folder = Path(folder) / RANK_FOLDER.format(rank=rank)
        if config.ranks == "all" or rank == 0:
            self.writer = TraceWriter(folder, config, rank, world)
        self.folder = Path(folder)
        self.epoch = 0
        self.step_number = 0
        self.capturing = False
        self._layer_handles: list[Any] = []
        self._taps: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._calls: dict[str, int] = {}
        self._groups: list[_Group] = []
        self._entries: list[_PendingEntry] = []
        self._deferred = False
        self._closed = False
        self._auto_steps = 0
        self._epoch_seen: int | None = None
        self._saw_last_step = False
        self._paused = False
        self._auto_handle = (
            model.register_forward_pre_hook(self._on_model_forward) if self.writer else None
        )
        self._warned: set[str] = set()
        # Products called as torch functions: a mode pushed around each captured forward of
        # the model; its hooks are attached with the layers' (none on uncaptured steps).
        self._model = model
        self._mode: ProductMode | None = None
        self._inside_modules = 0
        self._mode_handles: list[Any] = []

    # ----------------------------------------------------------------- where training is
    def step(self, epoch: int, step: int, last_step: bool = False) -> bool:
        """Announce the training step about to run; returns whether it will be captured.

        `epoch` and `step` are 0-based numbers of your loop (they are stored with each entry
        and matched against `TraceConfig.epochs` / `steps`); pass `last_step=True` on the last
        step of an epoch so that steps="last" can choose it. The first call ends the automatic
        numbering (one step per forward of the model). Pending CUDA copies are written here.
        """
        if self._auto_handle is not None:
            self._auto_handle.remove()
            self._auto_handle = None
        first = epoch != self._epoch_seen
        self._epoch_seen = epoch
        self._saw_last_step = self._saw_last_step or last_step
        return self._begin_step(epoch, step, first, last_step)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Record nothing inside this block (e.g. an evaluation pass inside a captured step)."""
        was_attached = bool(self._layer_handles)
        self._detach()
        self._paused = True
        try:
            yield
        finally:
            self._paused = False
            if was_attached and not self._closed:
                self._attach()

    def _on_model_forward(self, module: nn.Module, args: Any) -> None:
        """Automatic numbering: each forward of the model starts step 0, 1, 2, ... of epoch 0."""
        if self._paused:
            return
        number = self._auto_steps
        self._auto_steps += 1
        if self._begin_step(0, number, number == 0, False):
            # The mode's pre-hook, attached just now, does not run for this call: enter here.
            self._enter_mode(module, args)

    def _begin_step(self, epoch: int, step: int, first: bool, last: bool) -> bool:
        self.flush()
        self.epoch, self.step_number = epoch, step
        self._calls.clear()
        self._taps.clear()
        wanted = (
            self.writer is not None
            and self.writer.active
            and not self._closed
            and self.config.wants_epoch(epoch)
            and self.config.wants_step(step, first, last)
        )
        if wanted and not self._layer_handles and not self._paused:
            self._attach()
        elif not wanted and self._layer_handles:
            self._detach()
        self.capturing = wanted
        return wanted

    def _attach(self) -> None:
        if self.config.functions:
            model = self._model
            self._mode_handles += [
                model.register_forward_pre_hook(self._enter_mode),
                model.register_forward_hook(self._exit_mode, always_call=True),
            ]
            for _, module in model.named_modules():
                if isinstance(module, MatMul):
                    self._mode_handles += [
                        module.register_forward_pre_hook(self._enter_module),
                        module.register_forward_hook(self._exit_module, always_call=True),
                    ]
        for name, module in self.layers:
            tap = getattr(module, "operand_tap", None)
            if isinstance(tap, nn.Module):
                self._layer_handles.append(
                    tap.register_forward_hook(partial(self._on_tap, name), with_kwargs=True)
                )
            self._layer_handles.append(
                module.register_forward_hook(partial(self._on_forward, name), with_kwargs=True)
            )

    def _detach(self) -> None:
        for handle in [*self._layer_handles, *self._mode_handles]:
            handle.remove()
        self._layer_handles.clear()
        self._mode_handles.clear()
        self._exit_mode(self._model, (), None)
        self._inside_modules = 0

    # ------------------------------------------------- products called as torch functions
    def _enter_mode(self, module: nn.Module, args: Any) -> None:
        wanted = self.config.functions and self.capturing and bool(self._layer_handles)
        if wanted and self._mode is None:
            self._mode = ProductMode(self._on_function_product, self._mode_wanted)
            self._mode.__enter__()

    def _exit_mode(self, module: nn.Module, args: Any, output: Any) -> None:
        if self._mode is not None:
            mode, self._mode = self._mode, None
            mode.__exit__(None, None, None)

    def _enter_module(self, module: nn.Module, args: Any) -> None:
        self._inside_modules += 1

    def _exit_module(self, module: nn.Module, args: Any, output: Any) -> None:
        self._inside_modules -= 1

    def _mode_wanted(self) -> bool:
        return self._inside_modules == 0 and not self._paused and bool(self._layer_handles)

    def _on_function_product(
        self,
        name: str,
        a: torch.Tensor,
        b: torch.Tensor,
        output: torch.Tensor,
        role: str,
        scale: float | None,
    ) -> None:
        if any(fnmatch.fnmatchcase(name, p) for p in self.config.layers):
            self._on_function(name, a, b, output, role, scale)

    # ----------------------------------------------------------------------- the hooks
    def _on_tap(self, name: str, module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        operands = list(args) + list(kwargs.values())
        if len(operands) >= 2:
            self._taps[name] = (operands[0], operands[1])

    def _on_forward(
        self, name: str, module: nn.Module, args: Any, kwargs: Any, output: Any
    ) -> None:
        tapped = self._taps.pop(name, None)
        writer = self.writer
        if writer is None or not writer.active or self._closed:
            return
        is_product = isinstance(module, MatMul)
        if tapped is not None:
            activation, weight = tapped
        elif is_product:
            operands = [*args, *kwargs.values()]
            activation, weight = [*operands, None, None][:2]
        else:
            activation = args[0] if args else kwargs.get("input")
            weight = module.weight
        if not all(isinstance(t, torch.Tensor) for t in (activation, weight, output)):
            return
        # Under autocast the layer multiplies in its output's dtype: cast as autocast does.
        dtype = output.dtype if output.dtype.is_floating_point else activation.dtype
        activation, weight = activation.to(dtype), weight.to(dtype)
        if is_product:
            geometry = matmul_geometry(
                activation, weight, output.shape, dtype, module.kind, "module"
            )
            if geometry is None:
                self._not_recorded(name, activation, weight)
                return
        else:
            geometry = layer_geometry(module, activation.shape, weight.shape, output.shape, dtype)
        self._record(name, activation, weight, output, geometry)

    def _on_function(
        self,
        name: str,
        a: torch.Tensor,
        b: torch.Tensor,
        output: torch.Tensor,
        role: str,
        scale: float | None = None,
    ) -> None:
        """Record a product computed by a torch function inside the model's forward."""
        writer = self.writer
        if writer is None or not writer.active or self._closed:
            return
        if not all(isinstance(t, torch.Tensor) for t in (a, b, output)):
            return
        if not output.dtype.is_floating_point:
            return
        a, b = a.to(output.dtype), b.to(output.dtype)
        geometry = matmul_geometry(a, b, output.shape, output.dtype, role, name, scale)
        if geometry is None:
            self._not_recorded(name, a, b)
            return
        self._record(name, a, b, output, geometry)

    def _not_recorded(self, name: str, a: torch.Tensor, b: torch.Tensor) -> None:
        if name in self._warned:
            return
        self._warned.add(name)
        warnings.warn(
            f"thrifty.trace: the product {name!r} of shapes {list(a.shape)} · {list(b.shape)} "
            "is not recorded: only products of operands with two or more dimensions, whose "
            "right operand is 2-D or has the left one's batch dimensions, are (docs/traces.md)",
            RuntimeWarning,
            stacklevel=3,
        )

    def _record(
        self,
        name: str,
        activation: torch.Tensor,
        weight: torch.Tensor,
        output: torch.Tensor,
        geometry: dict[str, Any],
    ) -> None:
        """Stage the operands of one call and the entries of its chosen operations."""
        ops = self.config.ops
        backward = output.requires_grad
        want_forward = "forward" in ops
        want_data = "backward_data" in ops and backward and activation.requires_grad
        want_weight = "backward_weight" in ops and backward and weight.requires_grad
        needed: dict[str, torch.Tensor] = {}
        if want_forward or want_weight:
            needed["activation"] = activation
        if want_forward or want_data:
            needed["weight"] = weight
        if not needed:
            return
        call = self._calls.get(name, 0)
        self._calls[name] = call + 1
        context = {
            "layer": name,
            "epoch": self.epoch,
            "step": self.step_number,
            "call": call,
            "geometry": geometry,
        }
        operands = self._stage(name, "operands", needed)
        if operands is None:
            return
        if want_forward:
            self._entries.append(
                _PendingEntry(
                    "forward",
                    context,
                    {"activation": (operands, "activation"), "weight": (operands, "weight")},
                )
            )
        if want_data or want_weight:
            output.register_hook(
                partial(self._on_grad_output, operands, context, want_data, want_weight)
            )
        if not self._deferred:
            self._write_staged()

    def _on_grad_output(
        self,
        operands: _Group,
        context: dict[str, Any],
        want_data: bool,
        want_weight: bool,
        grad: torch.Tensor,
    ) -> None:
        if self._closed or self.writer is None or not self.writer.active or operands.failed:
            return
        group = self._stage(context["layer"], "grad_output", {"grad_output": grad})
        if group is None:
            return
        if want_data:
            refs = {"grad_output": (group, "grad_output"), "weight": (operands, "weight")}
            self._entries.append(_PendingEntry("backward_data", context, refs))
        if want_weight:
            refs = {"grad_output": (group, "grad_output"), "activation": (operands, "activation")}
            self._entries.append(_PendingEntry("backward_weight", context, refs))
        if not self._deferred:
            self._write_staged()

    # ---------------------------------------------------------------- staging and writing
    def _stage(self, layer: str, part: str, tensors: dict[str, torch.Tensor]) -> _Group | None:
        """Take CPU copies of `tensors` (asynchronous for CUDA); None once capturing stopped."""
        if self.writer is None:
            return None
        pending = sum(t.nbytes for g in self._groups if g.file is None for t in g.tensors.values())
        size = sum(t.nbytes for t in tensors.values())
        if pending + size > self.writer.remaining_bytes():
            self.writer.stop(
                f"trace budget max_bytes={self.writer.max_bytes} reached "
                f"({self.writer.bytes_written} bytes written, {pending + size} more needed); "
                "raise trace.max_bytes or capture fewer steps, layers or operations"
            )
            return None
        # Deferred: the group is written at the step boundary, not before the hook returns.
        deferred = self._deferred or any(_needs_async_copy(t) for t in tensors.values())
        copies: dict[str, torch.Tensor] = {}
        events = []
        for key, tensor in tensors.items():
            tensor = tensor.detach()
            if _needs_async_copy(tensor):
                copies[key], event = _async_host_copy(tensor)
                if event is not None:
                    events.append(event)
            elif tensor.device.type == "cpu":
                # Written before the hook returns, unless the group waits for a CUDA copy:
                # then it needs a snapshot, as training may change the tensor in place.
                copies[key] = tensor.clone() if deferred else tensor
            else:
                copies[key] = tensor.to("cpu")
        self._deferred = deferred
        meta = {
            k: {"dtype": dtype_name(t.dtype), "shape": list(t.shape)} for k, t in copies.items()
        }
        group = _Group(layer, part, copies, meta, events)
        self._groups.append(group)
        return group

    def _write_staged(self) -> None:
        """Write every staged group to its file (waiting for its CUDA copy first)."""
        writer = self.writer
        if writer is None:
            return
        for group in self._groups:
            for event in group.events:
                event.synchronize()
            group.file = writer.write_file(group.layer, group.part, group.tensors)
            group.failed = group.file is None
            group.tensors = {}
        self._groups.clear()
        self._deferred = False

    def flush(self) -> None:
        """Write what is staged, then add the finished entries to the manifest (one rewrite).

        Called at each step boundary and when the block ends: files are written as soon as
        their tensors are on the CPU, the manifest once per step, so a kill loses at most the
        entries of the step under way.
        """
        self._write_staged()
        if self.writer is None or not self._entries:
            return
        finished = []
        for entry in self._entries:
            if any(group.failed for group, _ in entry.refs.values()):
                continue
            tensors = {}
            for name, (group, key) in entry.refs.items():
                tensors[name] = {"file": group.file, "key": key, **group.meta[key]}
            finished.append({**_entry_head(entry), "tensors": tensors})
        self._entries.clear()
        self.writer.add_entries(finished)

    def close(self, complete: bool = True) -> None:
        """Write what is pending, remove every hook, mark the store complete. Idempotent."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._detach()
        if self._auto_handle is not None:
            self._auto_handle.remove()
            self._auto_handle = None
        if self.writer is not None:
            if complete:
                self.writer.close()
            if self.config.steps == "last" and not self._saw_last_step:
                warnings.warn(
                    "thrifty.trace: trace.steps='last' but no step was announced with "
                    "cap.step(..., last_step=True): nothing was captured",
                    RuntimeWarning,
                    stacklevel=3,
                )


def _entry_head(entry: _PendingEntry) -> dict[str, Any]:
    context = entry.context
    return {
        "layer": context["layer"],
        "op": entry.op,
        "epoch": context["epoch"],
        "step": context["step"],
        "call": context["call"],
        "geometry": context["geometry"],
    }


@contextmanager
def capture(
    model: nn.Module, folder: str | Path, config: TraceConfig | None = None
) -> Iterator[Capture]:
    """Record the operands of `model`'s layers and activation products inside the `with` block.

    With no `config` every forward and backward pass inside the block is recorded (each
    forward of `model` is a new step). With a schedule, call `cap.step(epoch, step,
    last_step)` before each training step. The store in `folder` (which must not hold one
    already) is readable at every moment, also if the process is killed; read it with
    `thrifty.trace.open(folder)`. Raises ConfigError if no layer matches `config.layers`.
    """
    cap = Capture(model, folder, config if config is not None else TraceConfig())
    try:
        yield cap
    except BaseException:
        cap.close(complete=False)
        raise
    cap.close(complete=True)
