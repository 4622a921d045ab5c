"""Simulated MACs per second on a full training-step trace of ResNet-20 (CIFAR-sized inputs).

Captures one SGD step (forward, input gradients, weight gradients of every conv/linear layer)
of ResNet-20 at the given batch into a temporary trace store, then simulates every operation
with the default preset, without sampling, `--repeats` times. Each repeat runs the simulation
in a fresh child process (this script with `--child`), so that:

- `macs_per_second` is MACs ÷ the seconds of `simulate_trace` alone (no tracemalloc, nothing
  else in the process);
- `process_macs_per_second` is MACs ÷ the wall time of the command a user runs,
  `thrifty simulate TRACE --out DIR --no-plots`, in its own process (start-up, imports, kernel
  cache loads, report, tables and exit included), run right after the child (with `--jobs`
  other than 1 or `--limit`, the child's own whole wall time instead);
- `peak_rss_bytes` is the child's own peak resident memory (`resource.getrusage`), its pool
  workers' peak separately when `--jobs` > 1;
- `cpu_ns_per_mac` is the CPU time of the child's `simulate_trace` (all its threads) per MAC:
  on a machine shared with other jobs it moves far less than the wall-clock rate.

Beside each repeat, in the parent: the kernel alone (`run_tiles`, what the simulator calls,
on a fixed (256 × 576) · (576 × 64) product of post-ReLU activations and weights on 8 × 8
tiles, all numba threads), and a calibration probe of the machine (GFLOP/s of a fixed
512 × 512 float32 numpy matmul), with the 1-minute load average, so runs on a loaded machine
can be read. Medians over repeats, every repeat recorded.

Usage: python benchmarks/simulate_throughput.py [--batch 32] [--repeats 3] [--jobs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

SEED = 0
KERNEL_SHAPE = (256, 576, 64)  # (M, K, N): a 3×3×64 convolution, 256 outputs, 64 filters
PROBE_SIZE = 512


def capture_resnet20_step(folder: Path, batch: int) -> None:
    """One SGD step of ResNet-20 on random 32×32 images, every operation captured."""
    import thrifty.trace
    from thrifty.models import build_model

    torch.manual_seed(SEED)
    model = build_model("resnet20", num_classes=10, in_channels=3, image_size=32)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with thrifty.trace.capture(model, folder):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def calibration_gflops(repeats: int = 5) -> float:
    """GFLOP/s of a fixed float32 matmul (numpy's BLAS, its default threads): machine speed."""
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((PROBE_SIZE, PROBE_SIZE), dtype=np.float32)
    b = rng.standard_normal((PROBE_SIZE, PROBE_SIZE), dtype=np.float32)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * PROBE_SIZE**3 / statistics.median(times) / 1e9


def kernel_macs_per_second(config) -> tuple[float, float]:
    """(MAC/s, CPU ns per MAC) of the simulator's kernel alone on a fixed activation × weight
    product (all threads)."""
    from thrifty.hw.sim.tile_run import run_tiles

    m, k, n = KERNEL_SHAPE
    rng = np.random.default_rng(SEED)
    a = torch.from_numpy(np.maximum(rng.normal(size=(m, k)), 0).astype(np.float32)).bfloat16()
    b = torch.from_numpy(rng.normal(0.0, 0.05, size=(k, n)).astype(np.float32)).bfloat16()
    tile = config.tile
    shape = (config.pe, tile.rows, tile.cols, tile.row_buffer_depth)
    run_tiles(a[:8], b, *shape, baseline=False)  # cache load
    start, cpu = time.perf_counter(), time.process_time()
    run_tiles(a, b, *shape, baseline=False)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    return m * k * n / seconds, cpu_seconds * 1e9 / (m * k * n)


def child(trace: Path, arch: str, jobs: int, limit: int) -> None:
    """Simulate the trace once and print one JSON line: seconds, MACs, peak RSS, results."""
    import thrifty.trace
    from thrifty.hw.config import load_hardware_config
    from thrifty.hw.sim.simulation import simulate_entries, simulate_trace

    config = load_hardware_config(arch)
    start, cpu = time.perf_counter(), time.process_time()
    if limit:
        simulation = simulate_entries(list(thrifty.trace.open(trace))[:limit], config)
    else:
        simulation = simulate_trace(trace, config, jobs=jobs)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "macs": simulation.total.macs,
        "operations_simulated": len(simulation.layers),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "pool_peak_rss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        "speedup_total": simulation.total.speedup,
        "energy_efficiency_total": simulation.total.energy_efficiency,
    }))  # fmt: skip


def run_child(trace: Path, args: argparse.Namespace) -> dict:
    """One simulation in a fresh process; its JSON line plus the process's wall time."""
    command = [sys.executable, __file__, "--child", str(trace), "--arch", args.arch,
               "--jobs", str(args.jobs), "--limit", str(args.limit)]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"simulation child failed:\n{proc.stderr}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["child_process_seconds"] = wall
    return row


def run_command(trace: Path) -> float:
    """Wall seconds of `thrifty simulate TRACE --no-plots` (the console script's code path,
    `python -m thrifty.cli`) in a fresh process, its report written to a temporary folder."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "thrifty.cli", "simulate", str(trace), "--out", out,
                   "--no-plots"]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"thrifty simulate failed:\n{proc.stderr}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="Batch size of the traced step.")
    parser.add_argument("--arch", default="default", help="Accelerator preset or YAML file.")
    parser.add_argument("--jobs", type=int, default=1, help="Processes over operations.")
    parser.add_argument("--repeats", type=int, default=3, help="Simulations (fresh processes).")
    parser.add_argument(
        "--limit", type=int, default=0, help="Simulate only the first N operations (0: all)."
    )
    parser.add_argument("--name", default="simulate_throughput", help="Result file name.")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.arch, args.jobs, args.limit)
        return

    import numba

    import thrifty.trace
    from benchmarks._common import write_result
    from thrifty.hw.config import load_hardware_config

    config = load_hardware_config(args.arch)
    times_command = args.jobs == 1 and not args.limit  # the command's defaults: every entry
    load_before = os.getloadavg()[0]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "trace"
        capture_resnet20_step(folder, args.batch)
        entries = len(thrifty.trace.open(folder))
        for repeat in range(args.repeats):
            row = {"calibration_gflops_before": calibration_gflops()}
            row["load_average_1min_start"] = os.getloadavg()[0]
            kernel = kernel_macs_per_second(config)
            row["kernel_macs_per_second"], row["kernel_cpu_ns_per_mac"] = kernel
            row.update(run_child(folder, args))
            row["process_seconds"] = (
                run_command(folder) if times_command else row["child_process_seconds"]
            )
            row["cpu_ns_per_mac"] = row["cpu_seconds"] * 1e9 / row["macs"]
            row["calibration_gflops_after"] = calibration_gflops()
            row["macs_per_second"] = row["macs"] / row["seconds"]
            row["process_macs_per_second"] = row["macs"] / row["process_seconds"]
            row["load_average_1min"] = os.getloadavg()[0]
            runs.append(row)
            print(f"repeat {repeat}: {row['macs']:,} MACs in {row['seconds']:.1f} s "
                  f"({row['process_seconds']:.1f} s process): {row['macs_per_second']:.3g} "
                  f"MAC/s ({row['process_macs_per_second']:.3g} process); kernel alone "
                  f"{row['kernel_macs_per_second']:.3g} MAC/s; CPU "
                  f"{row['cpu_ns_per_mac']:.2f} ns/MAC (kernel "
                  f"{row['kernel_cpu_ns_per_mac']:.2f}); peak RSS "
                  f"{row['peak_rss_bytes'] / 2**30:.2f} GiB; probe "
                  f"{row['calibration_gflops_before']:.1f} GFLOP/s; "
                  f"load {row['load_average_1min']:.1f}")  # fmt: skip

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    results = {
        "model": "resnet20",
        "batch": args.batch,
        "jobs": args.jobs,
        "operations": entries,
        "operations_simulated": runs[0]["operations_simulated"],
        "simulated_macs": runs[0]["macs"],
        "repeats": args.repeats,
        "seconds_median": median("seconds"),
        "macs_per_second": median("macs_per_second"),
        "process_macs_per_second": median("process_macs_per_second"),
        "process_measured": (
            "thrifty simulate TRACE --out DIR --no-plots (python -m thrifty.cli), own process"
            if times_command
            else "the benchmark's child process, whole wall time"
        ),
        "kernel_macs_per_second": median("kernel_macs_per_second"),
        "cpu_ns_per_mac": median("cpu_ns_per_mac"),
        "kernel_cpu_ns_per_mac": median("kernel_cpu_ns_per_mac"),
        "kernel": "run_tiles (8 x 8 output tiles, row buffer depth 4, baseline=False)",
        "kernel_shape_mkn": list(KERNEL_SHAPE),
        "peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs),
        "pool_peak_rss_bytes": max(r["pool_peak_rss_bytes"] for r in runs),
        "calibration_gflops": median("calibration_gflops_before"),
        "calibration": f"float32 numpy matmul {PROBE_SIZE}x{PROBE_SIZE}, median of 5",
        "numba_threads": numba.get_num_threads(),
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
        "speedup_total": runs[0]["speedup_total"],
        "energy_efficiency_total": runs[0]["energy_efficiency_total"],
        "runs": runs,
    }
    path = write_result(args.name, results, config, SEED)
    print(f"median {results['macs_per_second']:.3g} MAC/s (simulation), "
          f"{results['process_macs_per_second']:.3g} (process); kernel alone "
          f"{results['kernel_macs_per_second']:.3g}; peak RSS "
          f"{results['peak_rss_bytes'] / 2**30:.2f} GiB; wrote {path}")  # fmt: skip


if __name__ == "__main__":
    main()
