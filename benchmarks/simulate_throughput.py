"""Simulated MACs per second on a full training-step trace of ResNet-20 (CIFAR-sized inputs).

Captures one SGD step (forward, input gradients, weight gradients of every conv/linear layer)
of ResNet-20 at the given batch into a temporary trace store, then simulates every operation
with the default preset, without sampling. Reports MACs/s of the simulation alone and the peak
resident memory of the process (resource.getrusage) and the peak Python allocation of the
simulation (tracemalloc). Usage: python benchmarks/simulate_throughput.py [--batch 32]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import thrifty.trace
from benchmarks._common import write_result
from thrifty.hw.config import load_hardware_config
from thrifty.hw.sim.simulation import simulate_entries, simulate_trace
from thrifty.models import build_model

SEED = 0


def capture_resnet20_step(folder: Path, batch: int) -> None:
    """One SGD step of ResNet-20 on random 32×32 images, every operation captured."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="Batch size of the traced step.")
    parser.add_argument("--arch", default="default", help="Accelerator preset or YAML file.")
    parser.add_argument("--jobs", type=int, default=1, help="Processes over operations.")
    parser.add_argument(
        "--limit", type=int, default=0, help="Simulate only the first N operations (0: all)."
    )
    args = parser.parse_args()
    config = load_hardware_config(args.arch)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "trace"
        capture_resnet20_step(folder, args.batch)
        entries = len(thrifty.trace.open(folder))
        tracemalloc.start()
        start = time.perf_counter()
        if args.limit:
            simulation = simulate_entries(list(thrifty.trace.open(folder))[: args.limit], config)
        else:
            simulation = simulate_trace(folder, config, jobs=args.jobs)
        seconds = time.perf_counter() - start
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    macs = simulation.total.macs
    results = {
        "model": "resnet20",
        "batch": args.batch,
        "operations": entries,
        "operations_simulated": len(simulation.layers),
        "simulated_macs": macs,
        "seconds": seconds,
        "macs_per_second": macs / seconds,
        "peak_rss_bytes": peak_rss,
        "peak_tracemalloc_bytes": traced_peak,
        "speedup_total": simulation.total.speedup,
        "energy_efficiency_total": simulation.total.energy_efficiency,
        "note": "tracemalloc slows numpy-heavy code; the MACs/s is a lower bound",
    }
    path = write_result("simulate_throughput", results, config, SEED)
    print(f"{macs:,} MACs in {seconds:.1f} s: {macs / seconds:.3g} MACs/s; "
          f"peak RSS {peak_rss / 2**30:.2f} GiB; wrote {path}")  # fmt: skip


if __name__ == "__main__":
    main()
