"""What every result file records so that it can be reproduced: versions, machine, seed."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from typing import Any

from thrifty._version import __version__


def machine_info() -> dict[str, Any]:
    """The machine and software a result was produced on."""
    import numpy
    import torch

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": numpy.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def provenance(config: Any = None, seed: int | None = None) -> dict[str, Any]:
    """A block to embed in a result file: thrifty version, time, machine, seed and config.

    `config` may be a pydantic model (dumped to JSON-able data) or any JSON-able value.
    """
    if hasattr(config, "model_dump"):
        config = config.model_dump(mode="json")
    return {
        "thrifty_version": __version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "machine": machine_info(),
        "config": config,
    }
