"""thrifty.hw: the term-serial PE (oracle and fast model) and, around it, the simulator."""

from thrifty.hw.accelerator import HardwareConfig, load_hardware_config, preset_names
from thrifty.hw.integer_pe import IntegerPEResult, integer_step_cycles, run_integer_pe
from thrifty.hw.pe_config import PEConfig
from thrifty.hw.pe_matmul import MatmulResult, iter_pe_matmul, pe_matmul
from thrifty.hw.pe_run import ErrorReport, PEResult, PEStats, error_report, run_pe
from thrifty.hw.sim_results import OpResult
from thrifty.hw.simulate import simulate_operation
from thrifty.hw.simulation import Simulation, simulate_entries, simulate_trace, write_simulation

__all__ = [
    "ErrorReport",
    "HardwareConfig",
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
    "simulate_operation",
    "simulate_trace",
    "write_simulation",
]
