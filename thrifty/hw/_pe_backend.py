"""Where the simulator gets the term-serial PE from: `thrifty.hw.PEConfig` and `pe_matmul`.

Until the PE of issue 3 is merged, a simplified stand-in with the same contract is used.
"""

from __future__ import annotations

try:  # the real PE (issue 3)
    from thrifty.hw import PEConfig, pe_matmul  # type: ignore[attr-defined]

    STANDIN = False
except ImportError:  # pragma: no cover - removed once the PE lands
    from thrifty.hw._pe_standin import PEConfig, pe_matmul

    STANDIN = True

__all__ = ["STANDIN", "PEConfig", "pe_matmul"]
