"""Benchmark: learned bitlengths against float and uniform QAT on Fashion-MNIST (small CNN).

For each seed: train the float model (`--float-epochs`), and a float model for as many epochs
as every quantized variant gets in total (`float_same_epochs`, the reference of every accuracy
drop). From the first, with the same phases, epochs and learning rates:

- `learned_t<T>`: learned bitlengths of every layer's weight and input (criterion 'bits',
  target mode aiming at T mean bits before the round-up of `freeze`), one per `--targets`:
  the learned accuracy–bits front;
- `learned_t<T>_wchannel` (one per `--wchannel-targets`): the same with per-output-channel
  weight bitlengths and ranges;
- `uniform_<B>bit`: fixed B-bit weights and inputs (B in `--uniform-bits`), trained through
  the same learn and fine-tune phases (regularizer off): uniform quantization-aware training
  with exactly the learned variants' epochs and learning rates;
- `pretrained_defaults`: the float model fine-tuned with thrifty's defaults only (QuantConfig(),
  regularizer 'bits' λ = 0.05, the default bitlength learning rate) at weight lr 1e-4 for a
  fixed budget (`--pretrained-learn-epochs`, then freeze and `--pretrained-finetune-epochs`).

With `--final-model best_val`, the float reference and every learned and uniform variant end
with the weights of their best validation epoch (train config `final_model`; the float model
every variant starts from stays its last epoch's): one model-selection rule for both sides, so
that a reference whose last epoch is not its best does not make a drop look smaller or larger.
The last epoch's test accuracy is recorded too (`last_epoch_accuracy`).

Reports test accuracy, mean bits, memory-weighted bits and bit-operations per variant, as mean
and spread (min, max) over the seeds, and plots accuracy against mean bits.

Target: learned mean per-layer bitlength ≤ 4.0 within 0.5 points of float top-1.

    python benchmarks/fashion_mnist.py                       # the full comparison
    python benchmarks/fashion_mnist.py --subset 10000 --seeds 0   # a reduced run
    python benchmarks/fashion_mnist.py --plot benchmarks/results/fashion_mnist.json \
        --plot-out docs/img/fashion_mnist_front.png          # the plot of a results file
    python benchmarks/fashion_mnist.py --merge benchmarks/results/a.json \
        benchmarks/results/b.json --name both                # seeds run as separate processes

Falls back to digits (and says so) when Fashion-MNIST is not installed. Not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

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
#: Weight learning rate of the pretrained fine-tuning scenario (defaults otherwise).
PRETRAINED_LR = 1e-4


def _with_extra(quant: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """`quant` with --quant-extra merged in: a 'weight' / 'activation' entry updates that
    quantizer's keys (so '{"weight": {"range": "learned"}}' keeps each variant's bitlengths)."""
    merged = dict(quant)
    for key, value in args.quant_extra.items():
        if key in ("weight", "activation") and isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = value
    return merged


def _variants(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Quantized variants: the learned front (one target each) and uniform QAT."""
    learned = _with_extra({"weight": {"init_bits": 8}, "activation": {"init_bits": 8}}, args)
    variants: dict[str, dict[str, Any]] = {
        f"learned_t{target:g}": {
            "quant": learned,
            "regularizer": {"criterion": "bits", "strength": 0.05, "target": target},
        }
        for target in args.targets
    }
    for target in args.wchannel_targets:
        variants[f"learned_t{target:g}_wchannel"] = {
            "quant": {**learned, "weight": {**learned["weight"], "granularity": "channel"}},
            "regularizer": {"criterion": "bits", "strength": 0.05, "target": target},
        }
    for bits in args.uniform_bits:
        fixed = {"init_bits": bits, "learnable": False}
        variants[f"uniform_{bits}bit"] = {
            "quant": _with_extra({"weight": fixed, "activation": fixed}, args),
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
        "final_model": args.final_model,
    }


def _train(config: dict[str, Any], name: str, seed: int) -> dict[str, Any]:
    start = time.perf_counter()
    summary = train(TrainConfig.model_validate(config))
    row = _row(summary, time.perf_counter() - start)
    bits = "" if row["mean_bits"] is None else f" mean bits {row['mean_bits']:.3f}"
    print(f"seed {seed} {name}: {100 * row['accuracy']:.2f}%{bits}", flush=True)
    return row


def run_seed(args: argparse.Namespace, seed: int, root: Path) -> dict[str, dict[str, Any]]:
    """Float baselines and every variant for one seed: name → summary subset.

    With `--reuse-float DIR`, the float model of DIR/seed<seed>/float (a run of this benchmark
    kept from an earlier process) is read instead of trained; `--skip-float-same` leaves out the
    float model of the same total epochs (run it in another process and `--merge`).
    """
    results: dict[str, dict[str, Any]] = {}
    float_out = root / f"seed{seed}" / "float"
    no_quant = {"learn": {"epochs": 0}, "finetune": {"epochs": 0}}
    if args.reuse_float is not None:
        float_out = args.reuse_float / f"seed{seed}" / "float"
        kept = json.loads((float_out / "summary.json").read_text())
        results["float"] = _row(kept, 0.0)
        results["float"]["reused_from"] = str(float_out)
    else:
        results["float"] = _train(
            {
                **_base(args, seed, float_out),
                "final_model": "last",  # every variant starts from its last epoch
                "phases": {"float": {"epochs": args.float_epochs}, **no_quant},
            },
            "float",
            seed,
        )
    total = args.float_epochs + args.learn_epochs + args.finetune_epochs
    if not args.skip_float_same:
        results["float_same_epochs"] = _train(
            {
                **_base(args, seed, root / f"seed{seed}" / "float_same_epochs"),
                "phases": {"float": {"epochs": total}, **no_quant},
            },
            f"float {total} epochs",
            seed,
        )
    checkpoint = {"checkpoint": str(float_out / "float_model.pt")}
    for name, variant in _variants(args).items():
        if name not in args.variants:
            continue
        # Every variant, learned or uniform, runs the same phases at the same learning rates.
        results[name] = _train(
            {
                **_base(args, seed, root / f"seed{seed}" / name),
                **variant,
                **args.train_extra,
                "phases": {
                    "float": checkpoint,
                    "learn": {"epochs": args.learn_epochs},
                    "finetune": {"epochs": args.finetune_epochs, "lr": args.finetune_lr},
                },
            },
            name,
            seed,
        )
    if "pretrained_defaults" in args.variants:
        base = _base(args, seed, root / f"seed{seed}" / "pretrained_defaults")
        results["pretrained_defaults"] = _train(
            {
                **base,
                "final_model": "last",  # defaults only
                "optimizer": {"name": "adam", "lr": PRETRAINED_LR},
                "schedule": {"name": "constant"},
                "phases": {
                    "float": checkpoint,
                    "learn": {"epochs": args.pretrained_learn_epochs},
                    "finetune": {"epochs": args.pretrained_finetune_epochs},
                },
            },
            "pretrained_defaults",
            seed,
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
        "selected_epoch": summary.get("selected_epoch"),
        "last_epoch_accuracy": summary.get("last_epoch_accuracy"),
        "layers": summary["layers"],
        "data": summary["data"],
        "seconds": seconds,
    }


def aggregate(per_seed: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Mean, min, max (and std with ≥ 2 seeds) of every number, per variant, over seeds."""
    table: dict[str, dict[str, Any]] = {}
    for name in per_seed[0]:
        table[name] = {}
        keys = ("accuracy", "last_epoch_accuracy", "mean_bits", "memory_weighted_bits", "bitops")
        for key in (*keys, "seconds"):
            values = [seed[name].get(key) for seed in per_seed]
            values = [value for value in values if value is not None]
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
        if "mean_bits" in row:
            row["meets_target"] = bool(
                row["mean_bits"]["mean"] <= 4.0 and row["accuracy_drop_points"] <= 0.5
            )
    return table


def merge(paths: list[Path], name: str, suffixes: dict[str, str] | None = None) -> Path:
    """One results file from several runs of this benchmark (e.g. one process per seed, or per
    variant): rows of the same seed are joined, then aggregated again over the variants that
    every seed has. `suffixes` maps a file name to a suffix for its quantized variants' names
    (runs of the same variants with a different --quant-extra)."""
    suffixes = suffixes or {}
    payloads = [json.loads(path.read_text()) for path in paths]
    by_seed: dict[int, dict[str, dict[str, Any]]] = {}
    for path, payload in zip(paths, payloads, strict=True):
        suffix = suffixes.get(path.name, "")
        for seed, row in zip(
            payload["results"]["seeds_done"], payload["results"]["per_seed"], strict=True
        ):
            if suffix:
                row = {n if n.startswith("float") else n + suffix: v for n, v in row.items()}
            by_seed.setdefault(seed, {}).update(row)
    seeds = sorted(by_seed)
    rows = [by_seed[seed] for seed in seeds]
    names = list(dict.fromkeys(n for row in rows for n in row))
    common = [n for n in names if all(n in row for row in rows)]
    per_seed = [{n: row[n] for n in common} for row in rows]
    first = payloads[0]
    return write_result(
        name,
        {
            "command": first["results"]["command"],
            "merged_from": [
                {
                    "file": path.name,
                    "command": p["results"]["command"],
                    "config": p["config"],
                    "suffix": suffixes.get(path.name, ""),
                }
                for path, p in zip(paths, payloads, strict=True)
            ],
            "seeds_done": seeds,
            "summary": aggregate(per_seed),
            "per_seed": per_seed,
        },
        config={**first["config"], "seeds": seeds, "name": name},
        seed=seeds[0],
    )


def markdown_table(path: Path) -> str:
    """The docs/results.md table of a results JSON: mean [min, max] over seeds per variant."""
    summary = json.loads(path.read_text())["results"]["summary"]

    def cell(row: dict[str, Any], key: str, scale: float = 1.0, digits: int = 2) -> str:
        if key not in row:
            return "-"
        v = row[key]
        return (
            f"{scale * v['mean']:.{digits}f} [{scale * v['min']:.{digits}f}, "
            f"{scale * v['max']:.{digits}f}]"
        )

    # With final_model=best_val, the last epoch's accuracy is a column of its own.
    last = any("last_epoch_accuracy" in row for row in summary.values())
    lines = [
        "| variant | test top-1 % | drop vs float (pts) | "
        + ("last epoch top-1 % | " if last else "")
        + "mean bits | memory-weighted bits | bit-ops (M per sample) |",
        "|---|---|---|---|---|---|" + ("---|" if last else ""),
    ]
    for name, row in summary.items():
        last_cell = f"{cell(row, 'last_epoch_accuracy', 100)} | " if last else ""
        lines.append(
            f"| {name} | {cell(row, 'accuracy', 100)} | {row['accuracy_drop_points']:+.2f} | "
            f"{last_cell}{cell(row, 'mean_bits', 1, 3)} | "
            f"{cell(row, 'memory_weighted_bits', 1, 3)} | {cell(row, 'bitops', 1e-6, 1)} |"
        )
    return "\n".join(lines)


def plot(path: Path, out: Path) -> Path:
    """Accuracy against mean bits from a results JSON: learned front, uniform QAT, float."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from thrifty._io import atomic_path

    summary = json.loads(path.read_text())["results"]["summary"]
    fig, ax = plt.subplots(figsize=(6, 4))
    groups = {
        "learned bitlengths": (lambda n: n.startswith("learned_") and "wchannel" not in n, "o-"),
        "learned, per-channel weights": (
            lambda n: n.startswith("learned_") and n.endswith("_wchannel"),
            "^-",
        ),
        "uniform QAT": (lambda n: n.startswith("uniform_") and "wchannel" not in n, "s--"),
        "uniform QAT, per-channel weights": (
            lambda n: n.startswith("uniform_") and n.endswith("_wchannel"),
            "v:",
        ),
    }
    for label, (member, style) in groups.items():
        rows = sorted(
            [
                (r["mean_bits"]["mean"], 100 * r["accuracy"]["mean"], r)
                for n, r in summary.items()
                if member(n)
            ],
            key=lambda row: (row[0], row[1]),
        )
        if rows:
            xs, ys = [b for b, _, _ in rows], [a for _, a, _ in rows]
            errors = [
                [a - 100 * r["accuracy"]["min"] for _, a, r in rows],
                [100 * r["accuracy"]["max"] - a for _, a, r in rows],
            ]
            ax.errorbar(xs, ys, yerr=errors, fmt=style, label=label, capsize=3)
    if "pretrained_defaults" in summary:
        row = summary["pretrained_defaults"]
        ax.plot(
            row["mean_bits"]["mean"],
            100 * row["accuracy"]["mean"],
            "D",
            label="fine-tuned at lr 1e-4, defaults",
        )
    if "float_same_epochs" in summary:
        start = 100 * summary["float"]["accuracy"]["mean"]
        ax.axhline(start, color="tab:red", lw=1, ls="--", label="float model they start from")
    reference = summary.get("float_same_epochs", summary["float"])
    ax.axhline(100 * reference["accuracy"]["mean"], color="gray", lw=1, label="float (same epochs)")
    ax.axhline(
        100 * reference["accuracy"]["mean"] - 0.5,
        color="gray",
        lw=1,
        ls=":",
        label="float − 0.5 points",
    )
    ax.set_xlabel("mean per-layer bits (weights and inputs)")
    ax.set_ylabel("test top-1 (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--subset", type=int, default=None, help="training samples (None: all)")
    parser.add_argument("--test-subset", type=int, default=None)
    parser.add_argument("--float-epochs", type=int, default=4)
    parser.add_argument("--learn-epochs", type=int, default=4)
    parser.add_argument("--finetune-epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--bits-lr", type=float, default=None, help="None: thrifty's default")
    parser.add_argument("--finetune-lr", type=float, default=0.0005)
    parser.add_argument("--targets", type=float, nargs="+", default=[2.5, 3.0, 3.5])
    parser.add_argument(
        "--wchannel-targets",
        type=float,
        nargs="*",
        default=[],
        help="targets of extra learned variants with per-output-channel weight bitlengths",
    )
    parser.add_argument("--uniform-bits", type=int, nargs="+", default=[2, 3, 4, 8])
    parser.add_argument("--pretrained-learn-epochs", type=int, default=1)
    parser.add_argument("--pretrained-finetune-epochs", type=int, default=1)
    parser.add_argument(
        "--quant-extra",
        type=json.loads,
        default={},
        help="extra QuantConfig keys for every quantized variant, as JSON",
    )
    parser.add_argument(
        "--train-extra",
        type=json.loads,
        default={},
        help="extra train-config keys for every learned and uniform variant, as JSON "
        '(e.g. \'{"distill": {"weight": 0.5}}\')',
    )
    parser.add_argument(
        "--final-model",
        choices=["last", "best_val"],
        default="last",
        help="train config final_model of float_same_epochs and every learned and uniform "
        "variant: best_val ends each with its best validation epoch (of the last phase), "
        "the same model selection for the reference and the quantized models",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--variants", nargs="*", default=None, help="None: every variant")
    parser.add_argument(
        "--reuse-float",
        type=Path,
        default=None,
        help="read the float model of DIR/seed<seed>/float instead of training it",
    )
    parser.add_argument(
        "--skip-float-same",
        action="store_true",
        help="do not train the float model of the same total epochs",
    )
    parser.add_argument("--name", default="fashion_mnist")
    parser.add_argument(
        "--table",
        type=Path,
        default=None,
        help="print the markdown table of an existing results JSON and exit",
    )
    parser.add_argument("--plot", type=Path, default=None, help="plot a results JSON and exit")
    parser.add_argument(
        "--merge-suffix",
        nargs="*",
        default=[],
        metavar="FILE:SUFFIX",
        help="with --merge: append SUFFIX to the quantized variants of results file FILE "
        "(its name), e.g. fmf_lrch_s0.json:_wchannel",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="merge results JSONs (e.g. one per seed) into benchmarks/results/<name>.json, exit",
    )
    parser.add_argument(
        "--plot-out", type=Path, default=REPO / "docs" / "img" / "fashion_mnist_front.png"
    )
    args = parser.parse_args()
    if args.table is not None:
        print(markdown_table(args.table))
        return
    if args.plot is not None:
        print(f"wrote {plot(args.plot, args.plot_out)}")
        return
    if args.merge is not None:
        suffixes = dict(item.split(":", 1) for item in args.merge_suffix)
        print(f"wrote {merge(args.merge, args.name, suffixes)}")
        return
    if args.variants is None:
        args.variants = [*_variants(args), "pretrained_defaults"]
    torch.set_num_threads(args.threads)
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
            f"{name:<20} acc {100 * spread['mean']:.2f}% "
            f"[{100 * spread['min']:.2f}, {100 * spread['max']:.2f}] "
            f"drop {row['accuracy_drop_points']:+.2f} pts mean bits {bits}"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
