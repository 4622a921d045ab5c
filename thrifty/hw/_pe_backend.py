"""Where the simulator gets the term-serial PE from (issue 3): `PEConfig` and `pe_matmul`."""

from __future__ import annotations

from thrifty.hw.pe_config import PEConfig
from thrifty.hw.pe_matmul import pe_matmul

#: Bits of a bfloat16 significand, hidden bit included: the term slots of a bit-serial lane.
SIGNIFICAND_BITS = 8

__all__ = ["SIGNIFICAND_BITS", "PEConfig", "pe_matmul"]
