"""Cost of the `terms` regularizer criterion relative to `bits` in a quantized training step.

For the small CNN (batch 128, 1×28×28) and ResNet-20 (batch 128, 3×32×32) on the CPU, one
training step (zero_grad, forward, cross-entropy + regularizer, backward) of the quantized model
(weights and inputs, learnable bitlengths at 8 bits) is timed with three regularizers, each on
its own copy of the model: criterion "bits", criterion "terms" (serial activations, statistic
"mean": one extra counting pass over every layer input) and "terms" with statistic "lane_max"
(the same pass filling histograms). As in `quant_overhead.py`, the sides are timed in turns
within one process, the order rotating every repeat, and ratios are of medians over repeats;
CPU seconds of the process are recorded too (less sensitive to other jobs on the machine).
Run: `python benchmarks/terms_overhead.py [--repeats N] [--steps S]`.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

import thrifty
from benchmarks._common import write_result
from benchmarks.quant_overhead import BATCH, CASES, SEED, THREADS, _step, _timed
from thrifty.models import build_model

SIDES = {
    "bits": ("bits", None),
    "terms_mean": ("terms", {"statistic": "mean"}),
    "terms_lane_max": ("terms", {"statistic": "lane_max"}),
}


def measure(name: str, repeats: int, steps: int = 1, warmup: int = 2) -> dict:
    """Median seconds (wall and CPU) per step of each side, and each side's ratio to bits."""
    torch.manual_seed(SEED)
    shape = CASES[name]
    base = thrifty.quantize(build_model(name, num_classes=10, **shape))
    x = torch.randn(BATCH, shape["in_channels"], shape["image_size"], shape["image_size"])
    y = torch.randint(0, 10, (BATCH,))
    steps_of = {}
    for side, (criterion, terms) in SIDES.items():
        model = copy.deepcopy(base)
        reg = thrifty.BitlengthRegularizer(model, criterion, terms=terms)
        steps_of[side] = lambda model=model, reg=reg: _step(model, x, y, reg)
        for _ in range(warmup):
            steps_of[side]()
    runs: dict[str, list[tuple[float, float]]] = {side: [] for side in SIDES}
    order = list(SIDES)
    load_before = os.getloadavg()[0]
    for repeat in range(repeats):
        turn = order[repeat % len(order) :] + order[: repeat % len(order)]
        for side in turn:
            runs[side].append(_timed(steps_of[side], steps))
    row: dict = {"model": name, "batch": BATCH, "repeats": repeats, "steps_per_repeat": steps}
    wall = {side: statistics.median(t for t, _ in runs[side]) for side in SIDES}
    cpu = {side: statistics.median(c for _, c in runs[side]) for side in SIDES}
    for side in SIDES:
        row[f"{side}_step_median_s"] = wall[side]
        row[f"{side}_step_cpu_median_s"] = cpu[side]
        row[f"{side}_step_s"] = [t for t, _ in runs[side]]
        row[f"{side}_step_cpu_s"] = [c for _, c in runs[side]]
        if side != "bits":
            row[f"{side}_ratio"] = wall[side] / wall["bits"]
            row[f"{side}_cpu_ratio"] = cpu[side] / cpu["bits"]
            paired = [t / b for (t, _), (b, _) in zip(runs[side], runs["bits"], strict=True)]
            row[f"{side}_paired_ratio_median"] = statistics.median(paired)
    row["load_average_1min_before"] = load_before
    row["load_average_1min_after"] = os.getloadavg()[0]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per side")
    parser.add_argument("--steps", type=int, default=1, help="steps per side in one repeat")
    parser.add_argument("--models", nargs="*", default=list(CASES), help="models to time")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch CPU threads")
    parser.add_argument("--name", default="terms_overhead", help="result file name")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = [measure(name, args.repeats, args.steps) for name in args.models]
    config = {
        "batch": BATCH,
        "threads": args.threads,
        "repeats": args.repeats,
        "steps_per_repeat": args.steps,
        "order": "rotating: bits, terms_mean, terms_lane_max, then shifted by one each repeat",
        "sides": {side: {"criterion": c, "terms": t} for side, (c, t) in SIDES.items()},
    }
    path = write_result(args.name, results, config, SEED)
    for row in results:
        print(
            f"{row['model']:>10}: bits {row['bits_step_median_s'] * 1e3:7.1f} ms  "
            f"terms {row['terms_mean_step_median_s'] * 1e3:7.1f} ms "
            f"(×{row['terms_mean_ratio']:.3f}, paired ×{row['terms_mean_paired_ratio_median']:.3f},"
            f" CPU ×{row['terms_mean_cpu_ratio']:.3f})  lane_max "
            f"{row['terms_lane_max_step_median_s'] * 1e3:7.1f} ms "
            f"(×{row['terms_lane_max_ratio']:.3f}, CPU ×{row['terms_lane_max_cpu_ratio']:.3f}); "
            f"load {row['load_average_1min_before']:.1f}"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
