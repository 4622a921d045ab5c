"""The term-serial bfloat16 processing element: config, scalar oracle, fast model, integer mode.

`oracle.py` is the obviously-correct scalar model; `fast.py` holds the numba kernels that
`run.py` (pairs of one reduction) and `matmul.py` (matrix-shaped, bounded memory) drive and
that must agree with the oracle on every case it can run.
"""

from thrifty.hw.pe.config import PEConfig
from thrifty.hw.pe.integer import IntegerPEResult, integer_step_cycles, run_integer_pe
from thrifty.hw.pe.matmul import MatmulResult, iter_pe_matmul, pe_matmul
from thrifty.hw.pe.run import ErrorReport, PEResult, PEStats, error_report, run_pe

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
