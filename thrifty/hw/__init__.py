"""thrifty.hw: the term-serial PE (oracle and fast model) and, around it, the simulator."""

from thrifty.hw.integer_pe import IntegerPEResult, integer_step_cycles, run_integer_pe
from thrifty.hw.pe_config import PEConfig
from thrifty.hw.pe_matmul import MatmulResult, iter_pe_matmul, pe_matmul
from thrifty.hw.pe_run import ErrorReport, PEResult, PEStats, error_report, run_pe

__all__ = [
    "ErrorReport",
    "IntegerPEResult",
    "MatmulResult",
    "PEConfig",
    "PEResult",
    "PEStats",
    "error_report",
    "integer_step_cycles",
    "iter_pe_matmul",
    "pe_matmul",
    "run_integer_pe",
    "run_pe",
]
