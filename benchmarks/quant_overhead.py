"""Cost of a quantized training step relative to the float step (target ≤ 1.5×).

For the small CNN (batch 128, 1×28×28) and ResNet-20 (batch 128, 3×32×32) on the CPU, one
training step (zero_grad, forward, cross-entropy + bitlength regularizer, backward) is timed for
the float model and for its quantized copy (weights and inputs quantized, learnable bitlengths
at 8 bits: both levels computed), interleaved float/quantized so that machine load hits both
alike, and the medians are compared. Run: `python benchmarks/quant_overhead.py [--repeats N]`.
"""

from __future__ import annotations

import argparse
import copy
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


def measure(name: str, repeats: int, warmup: int = 2) -> dict:
    """Median seconds of the float and the quantized step, and their ratio."""
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
    float_times, quant_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        _step(model, x, y)
        float_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        _step(quantized, x, y, regularizer)
        quant_times.append(time.perf_counter() - start)
    float_s, quant_s = statistics.median(float_times), statistics.median(quant_times)
    return {
        "model": name,
        "batch": BATCH,
        "float_step_median_s": float_s,
        "quantized_step_median_s": quant_s,
        "ratio": quant_s / float_s,
        "float_step_s": float_times,
        "quantized_step_s": quant_times,
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per model")
    parser.add_argument("--models", nargs="*", default=list(CASES), help="models to time")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch CPU threads")
    parser.add_argument("--name", default="quant_overhead", help="result file name")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = [measure(name, args.repeats) for name in args.models]
    config = {
        "batch": BATCH,
        "threads": args.threads,
        "repeats": args.repeats,
        "target_ratio": 1.5,
    }
    path = write_result(args.name, results, config, SEED)
    for row in results:
        print(
            f"{row['model']:>10}: float {row['float_step_median_s'] * 1e3:8.1f} ms  "
            f"quantized {row['quantized_step_median_s'] * 1e3:8.1f} ms  "
            f"ratio {row['ratio']:.2f}"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
