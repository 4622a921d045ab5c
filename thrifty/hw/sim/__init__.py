"""The accelerator simulator: dataflow lowering, tiles and sync policies, whole-trace runs.

`operation.py` simulates one (layer, operation) entry of a trace; `simulation.py` runs a whole
trace and writes its JSON; `results.py` holds the additive result records both produce.
"""

from thrifty.hw.sim.operation import simulate_operation
from thrifty.hw.sim.results import OpResult
from thrifty.hw.sim.simulation import (
    Simulation,
    simulate_entries,
    simulate_trace,
    write_simulation,
)

__all__ = [
    "OpResult",
    "Simulation",
    "simulate_entries",
    "simulate_operation",
    "simulate_trace",
    "write_simulation",
]
