"""Helpers shared by the benchmark scripts: timing by median of repeats, JSON results.

Benchmarks are not tests: they print and write JSON under benchmarks/results/, with the
configuration, the thrifty version, the seed and the machine, so they can be reproduced.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from thrifty._io import write_json_atomic
from thrifty._provenance import provenance

RESULTS = Path(__file__).resolve().parent / "results"


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Run `fn` `warmup` times, then time it `repeats` times; return median, min and max seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "repeats": repeats,
    }


def write_result(name: str, results: Any, config: Any = None, seed: int | None = None) -> Path:
    """Write `results` with provenance to benchmarks/results/<name>.json and return the path."""
    path = RESULTS / f"{name}.json"
    write_json_atomic(path, {"benchmark": name, **provenance(config, seed), "results": results})
    return path
