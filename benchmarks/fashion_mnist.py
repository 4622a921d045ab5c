"""Benchmark: learned bitlengths against float and uniform QAT on Fashion-MNIST (small CNN).

For each seed: train the float baseline once; then, starting from it and with the same epochs,
learn bitlengths with each criterion (bits, memory, bitops — each in target mode, aiming at the
same mean bitlength), and run fixed uniform 8-bit and 4-bit quantization-aware training.
Every learned layer is included (weights and activations of all four layers). Reports test
accuracy and the three costs (mean bits, memory-weighted bits, bit-operations) per variant,
as mean and spread (min, max) over the seeds.

Target (issue 5): learned mean per-layer bitlength ≤ 4.0 within 0.5 points of float top-1.

    python benchmarks/fashion_mnist.py                       # the full comparison
    python benchmarks/fashion_mnist.py --subset 5000 --float-epochs 2 --learn-epochs 2 \
        --finetune-epochs 1 --seeds 0                        # a reduced run

Falls back to digits (and says so) when Fashion-MNIST is not installed. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import write_result  # noqa: E402
from thrifty.data import DataSplits, load_data  # noqa: E402
from thrifty.train import TrainConfig  # noqa: E402
from thrifty.train import train as train_run  # noqa: E402

_SPLITS: dict[str, DataSplits] = {}


def train(config: TrainConfig) -> dict[str, Any]:
    """thrifty's train(), reading the data set once: every run of the benchmark has the same
    `data:` section (splits are seeded by data.split_seed), so they share one read."""
    key = config.data.model_dump_json()
    if key not in _SPLITS:
        _SPLITS[key] = load_data(config.data)
    return train_run(config, data=_SPLITS[key])


#: Cost keys of a run summary: one per criterion.
COSTS = {"bits": "mean_bits", "memory": "memory_weighted_bits", "bitops": "bitops"}


def _variants(target_bits: float) -> dict[str, dict[str, Any]]:
    """Quantized variants: learned bits per criterion (target mode), and uniform QAT."""
    learned = {"weight": {"init_bits": 8}, "activation": {"init_bits": 8}}
    targets = {"bits": target_bits, "memory": target_bits, "bitops": target_bits**2}
    variants: dict[str, dict[str, Any]] = {
        f"learned_{criterion}": {
            "quant": learned,
            "regularizer": {"criterion": criterion, "strength": 0.05, "target": target},
        }
        for criterion, target in targets.items()
    }
    for bits in (8, 4):
        fixed = {"init_bits": bits, "learnable": False}
        variants[f"uniform_{bits}bit"] = {
            "quant": {"weight": fixed, "activation": fixed},
            "regularizer": {"strength": 0.0},
        }
    return variants


def _base(args: argparse.Namespace, seed: int, out: Path) -> dict[str, Any]:
    return {
        "seed": seed,
        "device": args.device,
        "out": str(out),
        "model": {"name": "small_cnn"},
        "data": {
            "name": "fashion_mnist",
            "fallback": "digits",
            "train_subset": args.subset,
            "test_subset": args.test_subset,
            "batch_size": args.batch_size,
        },
        "optimizer": {"name": "adam", "lr": args.lr, "bits_lr": args.bits_lr},
        "schedule": {"name": "cosine"},
    }


def run_seed(args: argparse.Namespace, seed: int, root: Path) -> dict[str, dict[str, Any]]:
    """Float baseline and every variant for one seed: name → summary subset."""
    results: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    float_out = root / f"seed{seed}" / "float"
    float_config = {
        **_base(args, seed, float_out),
        "phases": {
            "float": {"epochs": args.float_epochs},
            "learn": {"epochs": 0},
            "finetune": {"epochs": 0},
        },
    }
    summary = train(TrainConfig.model_validate(float_config))
    results["float"] = _row(summary, time.perf_counter() - start)
    print(f"seed {seed} float: {100 * summary['final_accuracy']:.2f}%", flush=True)
    # The float reference at the same total epochs as every quantized variant gets.
    start = time.perf_counter()
    total = args.float_epochs + args.learn_epochs + args.finetune_epochs
    long_config = {
        **_base(args, seed, root / f"seed{seed}" / "float_same_epochs"),
        "phases": {"float": {"epochs": total}, "learn": {"epochs": 0}, "finetune": {"epochs": 0}},
    }
    summary = train(TrainConfig.model_validate(long_config))
    results["float_same_epochs"] = _row(summary, time.perf_counter() - start)
    print(f"seed {seed} float {total} epochs: {100 * summary['final_accuracy']:.2f}%", flush=True)
    for name, variant in _variants(args.target_bits).items():
        if name not in args.variants:
            continue
        start = time.perf_counter()
        learn_epochs = args.learn_epochs if name.startswith("learned") else 0
        # Uniform QAT gets the same number of quantized epochs as learning + fine-tuning.
        finetune_epochs = args.finetune_epochs + (args.learn_epochs - learn_epochs)
        config = {
            **_base(args, seed, root / f"seed{seed}" / name),
            **variant,
            "phases": {
                "float": {"checkpoint": str(float_out / "float_model.pt")},
                "learn": {"epochs": learn_epochs},
                "finetune": {"epochs": finetune_epochs, "lr": args.finetune_lr},
            },
        }
        summary = train(TrainConfig.model_validate(config))
        results[name] = _row(summary, time.perf_counter() - start)
        row = results[name]
        print(
            f"seed {seed} {name}: {100 * row['accuracy']:.2f}% mean bits {row['mean_bits']:.3f} "
            f"memory bits {row['memory_weighted_bits']:.3f} bitops {row['bitops']:.4g}",
            flush=True,
        )
    return results


def _row(summary: dict[str, Any], seconds: float) -> dict[str, Any]:
    return {
        "accuracy": summary["final_accuracy"],
        "float_accuracy": summary["float_accuracy"],
        "mean_bits": summary["mean_bits"],
        "mean_weight_bits": summary["mean_weight_bits"],
        "mean_activation_bits": summary["mean_activation_bits"],
        "memory_weighted_bits": summary["memory_weighted_bits"],
        "bitops": summary["bitops"],
        "layers": summary["layers"],
        "data": summary["data"],
        "seconds": seconds,
    }


def aggregate(per_seed: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Mean, min, max (and std with ≥ 2 seeds) of every number, per variant, over seeds."""
    table: dict[str, dict[str, Any]] = {}
    for name in per_seed[0]:
        table[name] = {}
        for key in ("accuracy", "mean_bits", "memory_weighted_bits", "bitops", "seconds"):
            values = [seed[name][key] for seed in per_seed if seed[name][key] is not None]
            if not values:
                continue
            table[name][key] = {
                "mean": statistics.fmean(values),
                "min": min(values),
                "max": max(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "n": len(values),
            }
    # Accuracy drops are against the float model trained as many epochs as the variants.
    reference_name = "float_same_epochs" if "float_same_epochs" in table else "float"
    float_accuracy = table[reference_name]["accuracy"]["mean"]
    for row in table.values():
        row["accuracy_drop_points"] = 100 * (float_accuracy - row["accuracy"]["mean"])
        row["accuracy_drop_reference"] = reference_name
    # Uniform 8-bit QAT trains as many epochs as the learned variants and is practically
    # lossless: the drop against it isolates the cost of fewer bits from the extra epochs.
    reference = table.get("uniform_8bit")
    if reference:
        for row in table.values():
            row["accuracy_drop_vs_uniform_8bit_points"] = 100 * (
                reference["accuracy"]["mean"] - row["accuracy"]["mean"]
            )
    learned = table.get("learned_bits")
    if learned:
        learned["meets_target"] = bool(
            learned["mean_bits"]["mean"] <= 4.0 and learned["accuracy_drop_points"] <= 0.5
        )
    return table


def markdown_table(path: Path) -> str:
    """The docs/results.md table of a results JSON: mean [min, max] over seeds per variant."""
    import json

    summary = json.loads(path.read_text())["results"]["summary"]

    def cell(row: dict[str, Any], key: str, scale: float = 1.0, digits: int = 2) -> str:
        if key not in row:
            return "-"
        v = row[key]
        return (
            f"{scale * v['mean']:.{digits}f} [{scale * v['min']:.{digits}f}, "
            f"{scale * v['max']:.{digits}f}]"
        )

    lines = [
        "| variant | test top-1 % | drop vs float (pts) | mean bits | memory-weighted bits "
        "| bit-ops (M per sample) |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in summary.items():
        lines.append(
            f"| {name} | {cell(row, 'accuracy', 100)} | {row['accuracy_drop_points']:+.2f} | "
            f"{cell(row, 'mean_bits', 1, 3)} | {cell(row, 'memory_weighted_bits', 1, 3)} | "
            f"{cell(row, 'bitops', 1e-6, 1)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--subset", type=int, default=None, help="training samples (None: all)")
    parser.add_argument("--test-subset", type=int, default=None)
    parser.add_argument("--float-epochs", type=int, default=8)
    parser.add_argument("--learn-epochs", type=int, default=6)
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--bits-lr", type=float, default=0.1)
    parser.add_argument("--finetune-lr", type=float, default=0.0005)
    parser.add_argument("--target-bits", type=float, default=3.9)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--variants", nargs="+", default=[*_variants(3.9)])
    parser.add_argument("--name", default="fashion_mnist")
    parser.add_argument(
        "--table",
        type=Path,
        default=None,
        help="print the markdown table of an existing results JSON and exit",
    )
    args = parser.parse_args()
    if args.table is not None:
        print(markdown_table(args.table))
        return
    command = "python benchmarks/fashion_mnist.py " + " ".join(sys.argv[1:])
    per_seed: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="thrifty-bench-") as tmp:
        for seed in args.seeds:
            per_seed.append(run_seed(args, seed, Path(tmp)))
            # Written after every seed, so an interrupted benchmark keeps what it measured.
            table = aggregate(per_seed)
            path = write_result(
                args.name,
                {
                    "command": command,
                    "seeds_done": args.seeds[: len(per_seed)],
                    "summary": table,
                    "per_seed": per_seed,
                },
                config=vars(args),
                seed=args.seeds[0],
            )
    for name, row in table.items():
        spread = row["accuracy"]
        bits = row.get("mean_bits", {}).get("mean")
        print(
            f"{name:<16} acc {100 * spread['mean']:.2f}% "
            f"[{100 * spread['min']:.2f}, {100 * spread['max']:.2f}] "
            f"drop {row['accuracy_drop_points']:+.2f} pts mean bits {bits}"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
