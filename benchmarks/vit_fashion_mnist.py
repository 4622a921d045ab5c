"""Benchmark: the small vision transformer with learned bitlengths, traced and simulated.

1. Trains `vit_tiny` with the recipe of `examples/fashion_mnist_vit.yaml` (float phase, then
   learned bitlengths of every Linear layer, the patch convolution and attention's two
   products, then freeze and fine-tune): float and final test accuracy, mean bits.
2. Captures one training step (forward and backward, batch `--trace-batch` of training images)
   of the final quantized model: every Linear/Conv operation and attention's Q·Kᵀ and
   softmax·V products with their gradients.
3. Simulates that trace on the default accelerator (`--sample` < 1 simulates a fraction of the
   output tiles) and reports the term-serial speedup and energy efficiency per operation kind
   (conv, linear, attention_qk, attention_av) and training operation: with off-chip traffic
   (the roofline, `speedup`) and for compute alone (`compute_speedup`), and how many of the
   records off-chip traffic bounds.

    python benchmarks/vit_fashion_mnist.py                      # train, trace, simulate
    python benchmarks/vit_fashion_mnist.py --reuse              # simulate the kept trace again

Writes benchmarks/results/vit_fashion_mnist.json (configs, thrifty version, seed). The run
folder and the trace are kept under `--work`. Falls back to digits (and says so) when
Fashion-MNIST is not installed. Not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import thrifty.trace  # noqa: E402
from benchmarks._common import write_result  # noqa: E402
from thrifty._config import with_overrides  # noqa: E402
from thrifty.data import load_data  # noqa: E402
from thrifty.hw.config import load_hardware_config  # noqa: E402
from thrifty.hw.sim.simulation import simulate_trace, write_simulation  # noqa: E402
from thrifty.models import build_model  # noqa: E402
from thrifty.quant.summary import summary  # noqa: E402
from thrifty.train import train  # noqa: E402
from thrifty.train.config import load_train_config  # noqa: E402


def _train_and_trace(args: argparse.Namespace, config, work: Path) -> dict[str, Any]:
    data = load_data(config.data)
    torch.manual_seed(config.seed)
    model = build_model(config.model.name, data.num_classes, data.in_channels, data.image_size)
    started = time.perf_counter()
    result = train(config, data=data, model=model)
    train_seconds = time.perf_counter() - started
    # One training step of the final (quantized, frozen) model, every operation captured.
    model.train()
    x = data.train.images[: args.trace_batch]
    y = data.train.labels[: args.trace_batch]
    with thrifty.trace.capture(model, work / "trace"):
        F.cross_entropy(model(x), y).backward()
    products = [r for r in summary(model).records if r.type == "QuantMatMul"]
    kept = {
        "float_accuracy": result["float_accuracy"],
        "final_accuracy": result["final_accuracy"],
        "mean_bits": result["mean_bits"],
        "mean_weight_bits": result["mean_weight_bits"],
        "mean_activation_bits": result["mean_activation_bits"],
        "memory_weighted_bits": result["memory_weighted_bits"],
        "attention_product_bits": {
            r.name: {"a_bits": r.activation_bits, "b_bits": r.weight_bits} for r in products
        },
        "data": result["data"],
        "train_seconds": train_seconds,
    }
    (work / "training.json").write_text(json.dumps(kept, indent=1))
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO / "examples" / "fashion_mnist_vit.yaml"))
    parser.add_argument("--set", action="append", default=[], help="train config override")
    parser.add_argument("--trace-batch", type=int, default=32)
    parser.add_argument("--sample", type=float, default=1.0, help="fraction of output tiles")
    parser.add_argument("--work", default="runs/vit_benchmark", help="run and trace folder")
    parser.add_argument("--reuse", action="store_true", help="reuse the trace in --work")
    args = parser.parse_args()
    work = Path(args.work)
    config = load_train_config(args.config, [*args.set, f"out={work / 'run'}"])
    if args.reuse:
        training = json.loads((work / "training.json").read_text())
    else:
        training = _train_and_trace(args, config, work)
    hardware = with_overrides(
        load_hardware_config("default"), [f"sampling.fraction={args.sample!r}"]
    )
    started = time.perf_counter()
    simulation = simulate_trace(work / "trace", hardware)
    simulate_seconds = time.perf_counter() - started
    write_simulation(simulation, work / "simulation")

    def ratios(record, kind: str, op: str) -> dict[str, Any]:
        # Which records the roofline bounds by off-chip traffic (term-serial, tile policy).
        records = [r for r in simulation.layers if kind in (r.kind, "*") and op in (r.op, "all")]
        return {
            "macs": record.macs,
            "speedup": record.speedup,
            "compute_speedup": {
                p: record.baseline_compute_cycles / c for p, c in record.compute_cycles.items()
            },
            "memory_bound_records": sum(r.cycles["tile"] == r.memory_cycles for r in records),
            "records": len(records),
            "energy_efficiency": record.energy_efficiency,
        }

    by_kind = {
        kind: {op: ratios(r, kind, op) for op, r in ops.items()}
        for kind, ops in simulation.by_kind().items()
    }
    results = {
        **training,
        "trace_batch": args.trace_batch,
        "sampled_fraction": args.sample,
        "simulate_seconds": simulate_seconds,
        "by_kind": by_kind,
        "total": ratios(simulation.total, "*", "all"),
    }
    seed = config.seed
    path = write_result(
        "vit_fashion_mnist",
        results,
        {"train": config.model_dump(mode="json"), "hardware": hardware.model_dump(mode="json")},
        seed,
    )
    print(json.dumps({k: v for k, v in results.items() if k != "data"}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
