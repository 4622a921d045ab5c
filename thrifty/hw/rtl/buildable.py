"""Which PE configurations the RTL generator can build, with a named error for the others."""

from __future__ import annotations

from thrifty.errors import ConfigError
from thrifty.hw.pe.config import PEConfig


def check_buildable(config: PEConfig) -> None:
    """Raise ConfigError for a PE configuration the generated hardware cannot implement."""
    if config.min_cycles < 1:
        raise ConfigError(
            f"pe.min_cycles={config.min_cycles} cannot be built as RTL: the generated PE spends "
            "at least one cycle per step (it reads the next operands in that cycle); set "
            "pe.min_cycles >= 1"
        )
