"""thrifty.trace: capture the operands of every layer's three training operations, read them back.

    with thrifty.trace.capture(model, "traces/run1") as cap:   # everything, every pass
        train(...)
    config = thrifty.trace.TraceConfig(epochs=[0, 5, 10], steps="last")
    with thrifty.trace.capture(model, "traces/run2", config) as cap:
        for epoch ...: for step ...:
            cap.step(epoch=epoch, step=step, last_step=step == steps - 1)   # before each step
            ...
    for entry in thrifty.trace.open("traces/run1"):
        entry.layer, entry.op, entry.geometry, entry.tensors["activation"]

The format is described in docs/traces.md (docs/design.md §2, §5).
"""

from thrifty.trace.capturing import Capture, capture
from thrifty.trace.config import OPS, TraceConfig
from thrifty.trace.format import FORMAT_VERSION, OP_TENSORS
from thrifty.trace.reader import Trace, TraceEntry, open_trace

#: `thrifty.trace.open(folder)`: the lazy reader (an alias of `open_trace`).
open = open_trace

__all__ = [
    "FORMAT_VERSION",
    "OPS",
    "OP_TENSORS",
    "Capture",
    "Trace",
    "TraceConfig",
    "TraceEntry",
    "capture",
    "open",
    "open_trace",
]
