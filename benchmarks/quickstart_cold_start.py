"""Wall time of `thrifty quickstart` on a fresh clone (numba cache cold) and on a rerun (warm).

numba compiles thrifty's kernels on their first call and caches the machine code next to the
sources (`__pycache__/*.nbi`, `*.nbc`), so the first run after a clone pays for compilation and
later runs load the cache. Each measurement runs the quickstart in a fresh Python process (as
the command does: imports included) with the full budget and no progress display:

- cold: after deleting every numba cache file of the package;
- warm: the same again, with the cache the cold run left.

Inside the process a numba event listener adds up the time of every compilation (outermost
compilations only, so a kernel compiled while compiling its caller counts once), so the
compile share is measured, not inferred from the difference of two runs on a machine whose
load changes. The 1-minute load average before and after each run is recorded: on a shared
machine the absolute times mean little without it.

Run: python benchmarks/quickstart_cold_start.py [--fast] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import write_result
from thrifty.quickstart.stages import QUICKSTART_SEED

PACKAGE = Path(__file__).resolve().parent.parent / "thrifty"

#: What the child process runs: the quickstart, timed from before the first import.
_CHILD = r"""
import time
started = time.perf_counter()
import json, sys
from numba.core import event

class CompileTimes(event.Listener):
    def __init__(self):
        self.depth, self.seconds, self.kernels = 0, 0.0, {}
    def on_start(self, ev):
        if self.depth == 0:
            self.t0 = time.perf_counter()
        self.depth += 1
    def on_end(self, ev):
        self.depth -= 1
        name = ev.data["dispatcher"].py_func.__qualname__
        self.kernels[name] = self.kernels.get(name, 0) + 1
        if self.depth == 0:
            self.seconds += time.perf_counter() - self.t0

listener = CompileTimes()
event.register("numba:compile", listener)
from thrifty.quickstart import run_quickstart
imported = time.perf_counter() - started
result = run_quickstart(sys.argv[1], fast=sys.argv[2] == "fast", progress=False)
print(json.dumps({
    "total_s": time.perf_counter() - started,
    "import_s": imported,
    "quickstart_s": result.seconds,
    "compile_s": listener.seconds,
    "compilations": sum(listener.kernels.values()),
    "compilations_per_kernel": dict(sorted(listener.kernels.items())),
}))
"""


def numba_cache_files() -> list[Path]:
    """The numba cache files of the package (index and data files)."""
    return sorted(p for ext in ("*.nbi", "*.nbc") for p in PACKAGE.rglob(ext))


def run_once(out: Path, fast: bool) -> dict:
    """One quickstart in a fresh process; its timings plus the load average around it."""
    load_before = os.getloadavg()[0]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(out), "fast" if fast else "full"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)},
    )
    timings = json.loads(done.stdout.strip().splitlines()[-1])
    return {**timings, "loadavg_1min_before": load_before, "loadavg_1min_after": os.getloadavg()[0]}


def main(fast: bool, out_dir: Path | None) -> None:
    removed = numba_cache_files()
    for path in removed:
        path.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        base = out_dir or Path(tmp)
        cold = run_once(base / "cold", fast)
        cache_files = len(numba_cache_files())
        warm = run_once(base / "warm", fast)
    results = {
        "cold": cold,
        "warm": warm,
        "cache_files_removed": len(removed),
        "cache_files_after_cold_run": cache_files,
        "cpu_count": os.cpu_count(),
    }
    for name in ("cold", "warm"):
        r = results[name]
        print(
            f"{name}: {r['total_s']:.1f} s in all, {r['compile_s']:.1f} s compiling "
            f"({r['compilations']} compilations), load {r['loadavg_1min_before']:.1f} -> "
            f"{r['loadavg_1min_after']:.1f}"
        )
    path = write_result(
        "quickstart_cold_start" + ("_fast" if fast else ""),
        results,
        {"budget": "fast" if fast else "full", "progress": False},
        seed=QUICKSTART_SEED,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the --fast budget")
    parser.add_argument("--out", type=Path, default=None, help="keep the reports here")
    args = parser.parse_args()
    main(args.fast, args.out)
