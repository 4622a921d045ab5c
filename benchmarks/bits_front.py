"""Benchmark: what moves the accuracy–bits front of learned bitlengths, one change at a time.

Small CNN on a Fashion-MNIST subset. Per seed, one float model (`--float-steps`); from it, each
variant learns bitlengths in target mode (criterion 'bits', `--target` mean bits, so that the
variants land on about the same bits and their accuracies compare), freezes (round up) and
fine-tunes. Variants change one thing against `baseline` (thrifty's defaults):

- `ema_train_ranges`: QuantConfig(activation_training_range="ema");
- `per_channel_weights`: per-output-channel weight bitlengths and ranges;
- `distill`: the task loss becomes 0.5·CE + 0.5·T²·KL(teacher ‖ student) at T = 2, the
  teacher being the float model, in both quantized phases (thrifty.train.distill);
- `bits_lr_cosine`: the bitlength learning rate decays to 0 over the learning phase (cosine);
- `longer_finetune`: twice the fine-tuning steps;
- `learned_range`: QuantConfig with `range="learned"` for weights and inputs (LSQ-style step
  gradient, ranges initialised at min/max), the bitlength gradient unchanged;
- `learned_range_weights` / `learned_range_inputs`: the same for one role only;
- `bn_reestimate`: after `freeze` and again after fine-tuning, the batch-norm statistics are
  re-estimated (reset, then `--bn-batches` forward passes in train mode without gradient,
  quantizers in eval mode), so fine-tuning and evaluation start from statistics of the
  frozen network. Only meaningful with `--model small_cnn_bn`, the small CNN with a
  batch norm after each convolution (the registered small CNN has none).

    python benchmarks/bits_front.py
    python benchmarks/bits_front.py --seeds 0 --variants baseline distill   # a quick look
    python benchmarks/bits_front.py --model small_cnn_bn --variants baseline bn_reestimate

Writes benchmarks/results/<name>.json. Not a test.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import thrifty  # noqa: E402
from benchmarks._common import write_result  # noqa: E402
from benchmarks.bits_lr import accuracy, fashion_subset  # noqa: E402
from thrifty.models import SmallCNN  # noqa: E402
from thrifty.quant.quantize import DEFAULT_BITS_LR  # noqa: E402
from thrifty.train import batchnorm  # noqa: E402
from thrifty.train.distill import DistillConfig, Distiller  # noqa: E402

VARIANTS = (
    "baseline",
    "ema_train_ranges",
    "per_channel_weights",
    "distill",
    "bits_lr_cosine",
    "longer_finetune",
    "learned_range",
    "learned_range_weights",
    "learned_range_inputs",
    "bn_reestimate",
)


class SmallCNNBN(torch.nn.Module):
    """The small CNN with a batch norm after each convolution (for `bn_reestimate`)."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.conv1, self.bn1 = nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32)
        self.pool, self.relu = nn.MaxPool2d(2), nn.ReLU()
        self.fc1, self.fc2 = nn.Linear(32 * 7 * 7, 64), nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.bn1(self.conv1(x))))
        x = self.pool(self.relu(self.bn2(self.conv2(x))))
        return self.fc2(self.relu(self.fc1(torch.flatten(x, 1))))


MODELS = {"small_cnn": SmallCNN, "small_cnn_bn": SmallCNNBN}


@torch.no_grad()
def reestimate_batchnorm(model, data, batches: int, seed: int) -> None:
    """thrifty's batch-norm re-estimation (`thrifty.train.batchnorm`, the train config's
    `batchnorm_reestimate`) over `batches` random training batches of 128."""
    generator = torch.Generator().manual_seed(seed)
    inputs = (
        data[0][torch.randint(0, len(data[1]), (128,), generator=generator)] for _ in range(batches)
    )
    batchnorm.reestimate_batchnorm(model, inputs)


def fit(model, optimizer, data, steps, seed, regularizer=None, teacher=None, schedule=None):
    x, y = data[0], data[1]
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        if schedule is not None:
            schedule(step)
        index = torch.randint(0, len(y), (128,), generator=generator)
        logits = model(x[index])
        loss = F.cross_entropy(logits, y[index])
        if teacher is not None:
            loss = teacher(x[index], logits, loss)
        if regularizer is not None:
            loss = loss + regularizer()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def run(variant: str, float_model, data, args, seed: int) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if variant == "ema_train_ranges":
        config["activation_training_range"] = "ema"
    if variant == "per_channel_weights":
        config["weight"] = {"granularity": "channel"}
    if variant in ("learned_range", "learned_range_weights"):
        config["weight"] = {"range": "learned"}
    if variant in ("learned_range", "learned_range_inputs"):
        config["activation"] = {"range": "learned"}
    model = thrifty.quantize(copy.deepcopy(float_model), thrifty.QuantConfig.model_validate(config))
    teacher = None
    if variant == "distill":
        teacher = Distiller(copy.deepcopy(float_model), DistillConfig(weight=0.5, temperature=2.0))
    reg = thrifty.BitlengthRegularizer(model, criterion="bits", target=args.target)
    optimizer = torch.optim.Adam(thrifty.param_groups(model, lr=args.lr, bits_lr=args.bits_lr))
    schedule = None
    if variant == "bits_lr_cosine":

        def schedule(step: int) -> None:
            factor = 0.5 * (1 + math.cos(math.pi * step / args.learn_steps))
            optimizer.param_groups[1]["lr"] = args.bits_lr * factor

    fit(model, optimizer, data, args.learn_steps, seed + 1, reg, teacher, schedule)
    learned = thrifty.summary(model).mean_bits
    thrifty.freeze(model)
    if variant == "bn_reestimate":
        reestimate_batchnorm(model, data, args.bn_batches, seed + 3)
    optimizer = torch.optim.Adam(thrifty.param_groups(model, lr=args.finetune_lr))
    steps = args.finetune_steps * (2 if variant == "longer_finetune" else 1)
    fit(model, optimizer, data, steps, seed + 2, teacher=teacher)
    if variant == "bn_reestimate":
        reestimate_batchnorm(model, data, args.bn_batches, seed + 4)
    return {
        "accuracy": accuracy(model, data),
        "mean_bits": thrifty.summary(model).mean_bits,
        "mean_bits_learned": learned,
    }


def summarize(per_seed: list[dict[str, Any]], variants: list[str]) -> dict[str, Any]:
    """Per variant: mean accuracy drop against each seed's float model, mean bits, seeds."""
    return {
        variant: {
            "drop_points_mean": statistics.fmean(
                100 * (r["float_accuracy"] - r[variant]["accuracy"]) for r in per_seed
            ),
            "drop_points_std": statistics.stdev(
                100 * (r["float_accuracy"] - r[variant]["accuracy"]) for r in per_seed
            )
            if len(per_seed) > 1
            else 0.0,
            "mean_bits_mean": statistics.fmean(r[variant]["mean_bits"] for r in per_seed),
            "n": len(per_seed),
        }
        for variant in variants
    }


def merge(paths: list[Path], name: str) -> Path:
    """One results file from runs of this script in separate processes (e.g. one per seed):
    their per-seed rows together, summarised again over the variants every row has."""
    payloads = [json.loads(path.read_text()) for path in paths]
    per_seed = sorted(
        (row for p in payloads for row in p["results"]["per_seed"]), key=lambda r: r["seed"]
    )
    variants = [v for v in VARIANTS if all(v in row for row in per_seed)]
    return write_result(
        name,
        {
            "command": payloads[0]["results"]["command"],
            "merged_from": [
                {"file": path.name, "command": p["results"]["command"]}
                for path, p in zip(paths, payloads, strict=True)
            ],
            "summary": summarize(per_seed, variants),
            "per_seed": per_seed,
        },
        config={**payloads[0]["config"], "seeds": [r["seed"] for r in per_seed], "name": name},
        seed=per_seed[0]["seed"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--train", type=int, default=10000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--float-steps", type=int, default=1500)
    parser.add_argument("--learn-steps", type=int, default=600)
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--finetune-lr", type=float, default=5e-4)
    parser.add_argument("--bits-lr", type=float, default=DEFAULT_BITS_LR)
    parser.add_argument("--target", type=float, default=3.0)
    parser.add_argument("--model", choices=sorted(MODELS), default="small_cnn")
    parser.add_argument("--bn-batches", type=int, default=50, help="bn_reestimate: batches")
    parser.add_argument("--name", default="bits_front")
    parser.add_argument(
        "--merge", type=Path, nargs="+", default=None, help="merge results files into <name>"
    )
    args = parser.parse_args()
    if args.merge is not None:
        print(f"wrote {merge(args.merge, args.name)}")
        return
    torch.set_num_threads(1)
    command = "python benchmarks/bits_front.py " + " ".join(sys.argv[1:])
    data = fashion_subset(args.train, args.test)
    per_seed: list[dict[str, Any]] = []
    for seed in args.seeds:
        torch.manual_seed(seed)
        float_model = MODELS[args.model]()
        fit(
            float_model,
            torch.optim.Adam(float_model.parameters(), lr=2e-3),
            data,
            args.float_steps,
            seed,
        )
        row: dict[str, Any] = {"seed": seed, "float_accuracy": accuracy(float_model, data)}
        print(f"seed {seed}: float {100 * row['float_accuracy']:.2f}%", flush=True)
        for variant in args.variants:
            start = time.perf_counter()
            torch.manual_seed(seed)
            row[variant] = run(variant, float_model, data, args, seed)
            row[variant]["seconds"] = time.perf_counter() - start
            result = row[variant]
            print(
                f"seed {seed} {variant:<20} {100 * result['accuracy']:.2f}% "
                f"({100 * (result['accuracy'] - row['float_accuracy']):+.2f}) "
                f"bits {result['mean_bits_learned']:.2f} → {result['mean_bits']:.3f}",
                flush=True,
            )
        per_seed.append(row)
        summary = summarize(per_seed, args.variants)
        write_result(
            args.name,
            {"command": command, "summary": summary, "per_seed": per_seed},
            config=vars(args),
            seed=args.seeds[0],
        )
    for variant, values in summary.items():
        print(
            f"{variant:<20} drop {values['drop_points_mean']:+.2f} pts at "
            f"{values['mean_bits_mean']:.3f} bits (n={values['n']})"
        )


if __name__ == "__main__":
    main()
