"""Cost of a quantized training step relative to the float step (target ≤ 1.2×).

For the small CNN (batch 128, 1×28×28) and ResNet-20 (batch 128, 3×32×32) on the CPU, one
training step (zero_grad, forward, cross-entropy + bitlength regularizer, backward) is timed for
the float model and for its quantized copy (weights and inputs quantized, learnable bitlengths
at 8 bits: both levels computed). The two sides are timed side by side in one process: each
repeat times `--steps` float steps and as many quantized steps, and the order alternates
(float first on even repeats, quantized first on odd ones) so that neither side always runs
on a warmer cache or in a quieter moment. The ratio is that of the medians over repeats; the
median of the per-repeat (paired) ratios, the per-repeat ratios and the load average before and
after are recorded too, so a run on a loaded
machine can be read; so is the ratio of CPU seconds of the process (`cpu_ratio`), which depends
less on other jobs (it also counts threads spinning while they wait for work).
Run: `python benchmarks/quant_overhead.py [--repeats N] [--steps S]`.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from torch import nn

import thrifty
from benchmarks._common import write_result
from thrifty.models import build_model

CASES = {
    "small_cnn": {"in_channels": 1, "image_size": 28},
    "resnet20": {"in_channels": 3, "image_size": 32},
}
BATCH = 128
THREADS = 2
SEED = 0


def _step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, regularizer=None) -> None:
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y)
    if regularizer is not None:
        loss = loss + regularizer()
    loss.backward()


def _timed(fn, steps: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process) per step of `fn`."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps


def measure(name: str, repeats: int, steps: int = 1, warmup: int = 2) -> dict:
    """Median seconds per step of the float and the quantized step, and their ratio."""
    torch.manual_seed(SEED)
    shape = CASES[name]
    model = build_model(name, num_classes=10, **shape)
    quantized = thrifty.quantize(copy.deepcopy(model))
    regularizer = thrifty.BitlengthRegularizer(quantized, "bits")
    x = torch.randn(BATCH, shape["in_channels"], shape["image_size"], shape["image_size"])
    y = torch.randint(0, 10, (BATCH,))
    for _ in range(warmup):
        _step(model, x, y)
        _step(quantized, x, y, regularizer)
    def float_step() -> None:
        _step(model, x, y)

    def quant_step() -> None:
        _step(quantized, x, y, regularizer)

    float_runs, quant_runs = [], []
    load_before = os.getloadavg()[0]
    for repeat in range(repeats):
        if repeat % 2 == 0:
            float_runs.append(_timed(float_step, steps))
            quant_runs.append(_timed(quant_step, steps))
        else:
            quant_runs.append(_timed(quant_step, steps))
            float_runs.append(_timed(float_step, steps))
    float_times, float_cpu = (list(t) for t in zip(*float_runs, strict=True))
    quant_times, quant_cpu = (list(t) for t in zip(*quant_runs, strict=True))
    float_s, quant_s = statistics.median(float_times), statistics.median(quant_times)
    paired = [q / f for q, f in zip(quant_times, float_times, strict=True)]
    return {
        "model": name,
        "batch": BATCH,
        "float_step_median_s": float_s,
        "quantized_step_median_s": quant_s,
        "ratio": quant_s / float_s,
        "ratio_per_repeat": paired,
        "paired_ratio_median": statistics.median(paired),
        "float_step_s": float_times,
        "quantized_step_s": quant_times,
        "float_step_cpu_s": float_cpu,
        "quantized_step_cpu_s": quant_cpu,
        "cpu_ratio": statistics.median(quant_cpu) / statistics.median(float_cpu),
        "repeats": repeats,
        "steps_per_repeat": steps,
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per side")
    parser.add_argument("--steps", type=int, default=1, help="steps per side in one repeat")
    parser.add_argument("--models", nargs="*", default=list(CASES), help="models to time")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch CPU threads")
    parser.add_argument("--name", default="quant_overhead", help="result file name")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = [measure(name, args.repeats, args.steps) for name in args.models]
    config = {
        "batch": BATCH,
        "threads": args.threads,
        "repeats": args.repeats,
        "steps_per_repeat": args.steps,
        "order": "alternating (float first on even repeats)",
        "target_ratio": 1.2,
    }
    path = write_result(args.name, results, config, SEED)
    for row in results:
        print(
            f"{row['model']:>10}: float {row['float_step_median_s'] * 1e3:8.1f} ms  "
            f"quantized {row['quantized_step_median_s'] * 1e3:8.1f} ms  "
            f"ratio {row['ratio']:.2f} (paired {row['paired_ratio_median']:.2f}, CPU time "
            f"{row['cpu_ratio']:.2f}; per repeat "
            f"{min(row['ratio_per_repeat']):.2f}–"
            f"{max(row['ratio_per_repeat']):.2f}; load {row['load_average_1min_before']:.1f})"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
