"""Benchmark: which bitlength learning rate works whatever the weights' learning rate is.

Scenarios, on two models and data sets (a digits CNN with a grouped convolution on
scikit-learn's digits; thrifty's small CNN on a Fashion-MNIST subset):

- `scratch`: a freshly initialised model, quantized at once, weights at their usual rate
  (Adam 1e-3, SGD 0.05);
- `finetune_1e-3`, `finetune_1e-4`, `finetune_1e-5`: a float-trained model, quantized, then
  fine-tuned at that weight learning rate (SGD: 100 × that rate, momentum 0.9).

Each runs `--learn-steps` steps with the default regularizer (criterion 'bits', λ = 0.05) at
every bitlength learning rate of `--bits-lrs` (Adam) or `--sgd-bits-lrs` (SGD), then freezes
(round up) and fine-tunes
`--finetune-steps` steps, and records the mean bits before and after freezing and the test
accuracy against the float model's. Only the bitlength rate changes between rows.

    python benchmarks/bits_lr.py
    python benchmarks/bits_lr.py --datasets digits --learn-steps 200     # a quick look

Writes benchmarks/results/<name>.json. Not a test.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import thrifty  # noqa: E402
from benchmarks._common import write_result  # noqa: E402
from benchmarks.bits_gap import DigitsCNN, digits_split  # noqa: E402
from thrifty.data.idx import load_idx_folder  # noqa: E402
from thrifty.models import SmallCNN  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"

#: Weight learning rate of each scenario for Adam; SGD uses SGD_FACTOR × it.
SCENARIOS = {"scratch": 1e-3, "finetune_1e-3": 1e-3, "finetune_1e-4": 1e-4, "finetune_1e-5": 1e-5}
SGD_FACTOR = 100.0


def fashion_subset(train: int, test: int) -> tuple[torch.Tensor, ...]:
    """The first `train` / `test` Fashion-MNIST images of a seeded shuffle, pixels / 255."""
    x_train, y_train, x_test, y_test = load_idx_folder(FASHION)
    rng = np.random.default_rng(0)
    a, b = rng.permutation(len(y_train))[:train], rng.permutation(len(y_test))[:test]

    def images(x: np.ndarray) -> torch.Tensor:
        return torch.tensor(x, dtype=torch.float32).reshape(len(x), 1, 28, 28) / 255.0

    return (
        images(x_train[a]),
        torch.tensor(y_train[a], dtype=torch.long),
        images(x_test[b]),
        torch.tensor(y_test[b], dtype=torch.long),
    )


def steps(model, optimizer, data, count: int, seed: int, penalty=None, batch: int = 64) -> None:
    x, y = data[0], data[1]
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(count):
        index = torch.randint(0, len(y), (batch,), generator=generator)
        loss = F.cross_entropy(model(x[index]), y[index])
        if penalty is not None:
            loss = loss + penalty()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


@torch.no_grad()
def accuracy(model: nn.Module, data, batch: int = 500) -> float:
    model.eval()
    correct = sum(
        int((model(data[2][i : i + batch]).argmax(1) == data[3][i : i + batch]).sum())
        for i in range(0, len(data[3]), batch)
    )
    model.train()
    return correct / len(data[3])


def make_optimizer(name: str, groups: list[dict], lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9)


def run(start: nn.Module, data, optimizer: str, lr: float, bits_lr: float, args, seed: int):
    model = thrifty.quantize(copy.deepcopy(start))
    reg = thrifty.BitlengthRegularizer(model)  # defaults: 'bits', λ = 0.05
    groups = thrifty.param_groups(model, lr=lr, bits_lr=bits_lr)
    steps(model, make_optimizer(optimizer, groups, lr), data, args.learn_steps, seed, reg)
    learned = thrifty.summary(model).mean_bits
    thrifty.freeze(model)
    groups = thrifty.param_groups(model, lr=lr)
    steps(model, make_optimizer(optimizer, groups, lr), data, args.finetune_steps, seed + 1)
    return {
        "mean_bits_learned": learned,
        "mean_bits": thrifty.summary(model).mean_bits,
        "accuracy": accuracy(model, data),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "fashion"])
    parser.add_argument("--optimizers", nargs="+", default=["adam", "sgd"])
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    parser.add_argument("--bits-lrs", type=float, nargs="+", default=[0.003, 0.01, 0.03, 0.1])
    parser.add_argument("--sgd-bits-lrs", type=float, nargs="+", default=[0.01, 0.1, 1.0, 10.0])
    parser.add_argument("--learn-steps", type=int, default=300)
    parser.add_argument("--finetune-steps", type=int, default=60)
    parser.add_argument("--float-steps", type=int, default=600)
    parser.add_argument("--fashion-train", type=int, default=5000)
    parser.add_argument("--fashion-test", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="bits_lr")
    args = parser.parse_args()
    torch.set_num_threads(1)
    command = "python benchmarks/bits_lr.py " + " ".join(sys.argv[1:])
    rows: list[dict[str, Any]] = []
    floats: dict[str, float] = {}
    for dataset in args.datasets:
        if dataset == "digits":
            data, build = digits_split(), DigitsCNN
        else:
            data, build = fashion_subset(args.fashion_train, args.fashion_test), SmallCNN
        torch.manual_seed(args.seed)
        pretrained = build()
        opt = torch.optim.Adam(pretrained.parameters(), lr=1e-3)
        steps(pretrained, opt, data, args.float_steps, args.seed + 100)
        floats[dataset] = accuracy(pretrained, data)
        print(f"{dataset}: float model {100 * floats[dataset]:.2f}%", flush=True)
        for scenario in args.scenarios:
            torch.manual_seed(args.seed + 1)
            start = build() if scenario == "scratch" else pretrained
            for optimizer in args.optimizers:
                lr = SCENARIOS[scenario] * (SGD_FACTOR if optimizer == "sgd" else 1.0)
                grid = args.sgd_bits_lrs if optimizer == "sgd" else args.bits_lrs
                for bits_lr in grid:
                    begun = time.perf_counter()
                    row = {
                        "dataset": dataset,
                        "scenario": scenario,
                        "optimizer": optimizer,
                        "lr": lr,
                        "bits_lr": bits_lr,
                        "float_accuracy": floats[dataset],
                        **run(start, data, optimizer, lr, bits_lr, args, args.seed),
                    }
                    row["seconds"] = time.perf_counter() - begun
                    rows.append(row)
                    print(
                        f"{dataset:<7} {scenario:<14} {optimizer:<4} lr {lr:<8g} bits_lr "
                        f"{bits_lr:<6g} bits {row['mean_bits_learned']:.2f} → "
                        f"{row['mean_bits']:.2f}  acc {100 * row['accuracy']:.2f}% "
                        f"({100 * (row['accuracy'] - floats[dataset]):+.2f})",
                        flush=True,
                    )
                    write_result(
                        args.name,
                        {"command": command, "float_accuracy": floats, "rows": rows},
                        config=vars(args),
                        seed=args.seed,
                    )


if __name__ == "__main__":
    main()
