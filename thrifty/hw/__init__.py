"""thrifty.hw: the term-serial PE (oracle and fast model) and, around it, the simulator."""

from thrifty.hw.pe_config import PEConfig
from thrifty.hw.pe_matmul import MatmulResult, pe_matmul
from thrifty.hw.pe_run import ErrorReport, PEResult, PEStats, error_report, run_pe

__all__ = [
    "ErrorReport",
    "MatmulResult",
    "PEConfig",
    "PEResult",
    "PEStats",
    "error_report",
    "pe_matmul",
    "run_pe",
]
