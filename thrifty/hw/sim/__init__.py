"""The accelerator simulator: dataflow lowering, tiles and sync policies, whole-trace runs.

`operation.py` simulates one (layer, operation) entry of a trace; `simulation.py` runs a whole
trace and writes its JSON; `results.py` holds the additive result records both produce.
`inference.py` prices the integer forward pass of a frozen model (`integer_forward.py`) on
integer term-serial, bit-serial and bit-parallel accelerators.
"""

from thrifty.hw.sim.inference import (
    InferenceSimulation,
    simulate_inference,
    write_inference,
)
from thrifty.hw.sim.operation import simulate_operation
from thrifty.hw.sim.results import OpResult
from thrifty.hw.sim.simulation import (
    Simulation,
    simulate_entries,
    simulate_trace,
    write_simulation,
)

__all__ = [
    "InferenceSimulation",
    "OpResult",
    "Simulation",
    "simulate_entries",
    "simulate_inference",
    "simulate_operation",
    "simulate_trace",
    "write_inference",
    "write_simulation",
]
