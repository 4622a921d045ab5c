"""thrifty.hw: the term-serial PE (oracle and fast model) and, around it, the simulator.

Subpackages: `pe` (the processing element), `sim` (dataflow, tiles, whole-trace simulation),
`cost` (area and energy models), `codec` (the off-chip delta codec). `config.py` holds the one
hardware config (`HardwareConfig`) and its YAML presets.
"""

from thrifty.hw.config import HardwareConfig, load_hardware_config, preset_names
from thrifty.hw.pe import (
    ErrorReport,
    IntegerPEResult,
    MatmulResult,
    PEConfig,
    PEResult,
    PEStats,
    error_report,
    integer_step_cycles,
    iter_pe_matmul,
    pe_matmul,
    run_integer_pe,
    run_pe,
)
from thrifty.hw.sim import (
    InferenceSimulation,
    OpResult,
    Simulation,
    simulate_entries,
    simulate_inference,
    simulate_operation,
    simulate_trace,
    write_inference,
    write_simulation,
)

__all__ = [
    "ErrorReport",
    "HardwareConfig",
    "InferenceSimulation",
    "IntegerPEResult",
    "MatmulResult",
    "OpResult",
    "PEConfig",
    "PEResult",
    "PEStats",
    "Simulation",
    "error_report",
    "integer_step_cycles",
    "iter_pe_matmul",
    "load_hardware_config",
    "pe_matmul",
    "preset_names",
    "run_integer_pe",
    "run_pe",
    "simulate_entries",
    "simulate_inference",
    "simulate_operation",
    "simulate_trace",
    "write_inference",
    "write_simulation",
]
