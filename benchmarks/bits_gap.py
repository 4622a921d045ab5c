"""Benchmark: thrifty's learned bitlengths against an independent minimal implementation.

The script shape of the report that thrifty trailed a from-scratch implementation: a small
digits CNN with one grouped convolution, trained in float (30 epochs, Adam, lr 3e-3), then 15
epochs of learning bitlengths (regularizer 'bits', λ = 0.05, bitlength lr 0.03) and 3 epochs
of fine-tuning after rounding the bitlengths up. Every seed trains one float model; both
implementations start from it and see the same batches in the same order. Variants switch one
thing at a time in thrifty (the numba kernels off; evaluation with batch ranges instead of the
moving averages). A lock-step check feeds both implementations the same batches for a few
steps and reports how far their outputs, gradients and bitlengths drift apart.

    python benchmarks/bits_gap.py                      # seeds 0 1 2
    python benchmarks/bits_gap.py --seeds 0 1 2 3 4 5 6 7 8 9 --name bits_gap_10seeds

Writes benchmarks/results/<name>.json. Not a test.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from torch import nn  # noqa: E402

import thrifty  # noqa: E402
from benchmarks import _reference_bits as ref  # noqa: E402
from benchmarks._common import write_result  # noqa: E402
from thrifty.quant.functional import use_kernels  # noqa: E402
from thrifty.quant.quantize import bit_parameters  # noqa: E402


class DigitsCNN(nn.Module):
    """conv(1→16) → conv(16→32, 4 groups) → pool → fc(512→64) → fc(64→10), on 8×8 digits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, groups=4)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def digits_split(test_fraction: float = 0.2) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_test, y_test): pixel values / 16, a fixed seeded split."""
    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(bunch.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(1234))
    cut = int(len(y) * (1 - test_fraction))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def batches(n: int, batch: int, seed: int, epoch: int) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 10_000 + epoch))
    return list(order.split(batch))


def train_epochs(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: tuple[torch.Tensor, ...],
    epochs: int,
    seed: int,
    offset: int,
    penalty: Callable[[], torch.Tensor] | None = None,
    after_step: Callable[[], None] | None = None,
    batch: int = 64,
) -> None:
    x, y = data[0], data[1]
    model.train()
    for epoch in range(epochs):
        for index in batches(len(y), batch, seed, offset + epoch):
            loss = F.cross_entropy(model(x[index]), y[index])
            if penalty is not None:
                loss = loss + penalty()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step()


@torch.no_grad()
def accuracy(model: nn.Module, data: tuple[torch.Tensor, ...]) -> float:
    """Test top-1 with the whole test set as one batch (the batch range is the test set's)."""
    model.eval()
    correct = (model(data[2]).argmax(1) == data[3]).float().mean().item()
    model.train()
    return float(correct)


def thrifty_batch_range_eval(model: nn.Module, data: tuple[torch.Tensor, ...]) -> float:
    """Accuracy of a thrifty model evaluated with batch ranges instead of its moving averages."""
    saved = {}
    for name, layer in thrifty.quant.quantized_layers(model):
        saved[name] = layer.input_quantizer.num_batches_tracked.clone()
        layer.input_quantizer.num_batches_tracked.zero_()  # no average yet → batch range
    value = accuracy(model, data)
    for name, layer in thrifty.quant.quantized_layers(model):
        layer.input_quantizer.num_batches_tracked.copy_(saved[name])
    return value


def run_thrifty(float_model, data, args, seed: int, kernels: bool = True) -> dict[str, Any]:
    previous = use_kernels()
    use_kernels(kernels)
    try:
        model = thrifty.quantize(copy.deepcopy(float_model))
        reg = thrifty.BitlengthRegularizer(model, criterion="bits", strength=args.strength)
        opt = torch.optim.Adam(thrifty.param_groups(model, lr=args.lr, bits_lr=args.bits_lr))
        train_epochs(model, opt, data, args.learn_epochs, seed, 1000, penalty=reg)
        learned = thrifty.summary(model).mean_bits
        thrifty.freeze(model)
        opt = torch.optim.Adam(thrifty.param_groups(model, lr=args.lr))
        train_epochs(model, opt, data, args.finetune_epochs, seed, 2000)
        layers = [
            (int(layer.weight_quantizer.bitlength), int(layer.input_quantizer.bitlength))
            for _, layer in thrifty.quant.quantized_layers(model)
        ]
        return {
            "accuracy": accuracy(model, data),
            "accuracy_batch_ranges": thrifty_batch_range_eval(model, data),
            "mean_bits": thrifty.summary(model).mean_bits,
            "mean_bits_before_freeze": learned,
            "layer_bits_w_a": layers,
        }
    finally:
        use_kernels(previous)


def run_reference(float_model, data, args, seed: int) -> dict[str, Any]:
    model = ref.ref_quantize(copy.deepcopy(float_model))
    opt = torch.optim.Adam(ref.ref_param_groups(model, args.lr, args.bits_lr))

    def penalty() -> torch.Tensor:
        return args.strength * ref.ref_cost(model)

    train_epochs(
        model,
        opt,
        data,
        args.learn_epochs,
        seed,
        1000,
        penalty,
        after_step=lambda: ref.ref_clamp(model),
    )
    learned = ref.ref_mean_bits(model)
    ref.ref_freeze(model)
    weights = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(weights, lr=args.lr)
    train_epochs(model, opt, data, args.finetune_epochs, seed, 2000)
    layers = [(int(m.w_bits), int(m.a_bits)) for m in ref.ref_layers(model)]
    return {
        "accuracy": accuracy(model, data),
        "mean_bits": ref.ref_mean_bits(model),
        "mean_bits_before_freeze": learned,
        "layer_bits_w_a": layers,
    }


def lockstep(float_model, data, args, seed: int, steps: int) -> dict[str, Any]:
    """Both implementations from the same float model on the same batches, step by step."""
    a = thrifty.quantize(copy.deepcopy(float_model))
    b = ref.ref_quantize(copy.deepcopy(float_model))
    reg = thrifty.BitlengthRegularizer(a, criterion="bits", strength=args.strength)
    opt_a = torch.optim.Adam(thrifty.param_groups(a, lr=args.lr, bits_lr=args.bits_lr))
    opt_b = torch.optim.Adam(ref.ref_param_groups(b, args.lr, args.bits_lr))
    x, y = data[0], data[1]
    index = batches(len(y), 64, seed, 1000)[0]
    out_a, out_b = a(x[index]), b(x[index])
    first_output_diff = float((out_a - out_b).detach().abs().max())
    loss_a = F.cross_entropy(out_a, y[index]) + reg()
    loss_b = F.cross_entropy(out_b, y[index]) + args.strength * ref.ref_cost(b)
    loss_a.backward()
    loss_b.backward()
    bits_a = [p.grad for p in bit_parameters(a)]
    bits_b = ref.ref_bits(b)
    first_bits_grad_diff = max(
        float((g - p.grad).abs().max()) for g, p in zip(bits_a, bits_b, strict=True)
    )
    first_bits_grad_scale = max(float(g.abs().max()) for g in bits_a)
    weight_diff = 0.0
    for (_, la), lb in zip(thrifty.quant.quantized_layers(a), ref.ref_layers(b), strict=True):
        weight_diff = max(weight_diff, float((la.weight.grad - lb.layer.weight.grad).abs().max()))
    opt_a.zero_grad()
    opt_b.zero_grad()
    drift = []
    step = 0
    for epoch in range(100):
        for index in batches(len(y), 64, seed, 1000 + epoch):
            if step >= steps:
                break
            la = F.cross_entropy(a(x[index]), y[index])
            lb = F.cross_entropy(b(x[index]), y[index])
            for loss, opt, pen in (
                (la, opt_a, reg),
                (lb, opt_b, lambda: args.strength * ref.ref_cost(b)),
            ):
                opt.zero_grad()
                (loss + pen()).backward()
                opt.step()
            ref.ref_clamp(b)
            a_bits = [float(p.detach().clamp(2, 16)) for p in bit_parameters(a)]
            b_bits = [float(p.detach()) for p in ref.ref_bits(b)]
            drift.append(
                {
                    "step": step,
                    "loss_thrifty": float(la.detach()),
                    "loss_reference": float(lb.detach()),
                    "max_bits_diff": max(abs(u - v) for u, v in zip(a_bits, b_bits, strict=True)),
                }
            )
            step += 1
    return {
        "first_step_max_output_diff": first_output_diff,
        "first_step_max_bits_grad_diff": first_bits_grad_diff,
        "first_step_max_bits_grad": first_bits_grad_scale,
        "first_step_max_weight_grad_diff": weight_diff,
        "drift": drift[:: max(1, steps // 20)] + drift[-1:],
    }


def summarize(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--float-epochs", type=int, default=30)
    parser.add_argument("--learn-epochs", type=int, default=15)
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--bits-lr", type=float, default=0.03)
    parser.add_argument("--strength", type=float, default=0.05)
    parser.add_argument("--lockstep-steps", type=int, default=100)
    parser.add_argument(
        "--variants", nargs="+", default=["thrifty", "reference", "thrifty_no_kernels"]
    )
    parser.add_argument("--name", default="bits_gap")
    args = parser.parse_args()
    torch.set_num_threads(1)
    command = "python benchmarks/bits_gap.py " + " ".join(sys.argv[1:])
    data = digits_split()
    per_seed: list[dict[str, Any]] = []
    for seed in args.seeds:
        start = time.perf_counter()
        torch.manual_seed(seed)
        float_model = DigitsCNN()
        train_epochs(
            float_model,
            torch.optim.Adam(float_model.parameters(), lr=args.lr),
            data,
            args.float_epochs,
            seed,
            0,
        )
        row: dict[str, Any] = {"seed": seed, "float_accuracy": accuracy(float_model, data)}
        for name in args.variants:
            torch.manual_seed(seed)
            if name == "reference":
                row[name] = run_reference(float_model, data, args, seed)
            else:
                row[name] = run_thrifty(float_model, data, args, seed, name == "thrifty")
        if seed == args.seeds[0] and args.lockstep_steps:
            row["lockstep"] = lockstep(float_model, data, args, seed, args.lockstep_steps)
        row["seconds"] = time.perf_counter() - start
        per_seed.append(row)
        print(
            f"seed {seed}: float {100 * row['float_accuracy']:.2f}% "
            + " ".join(
                f"{name} {100 * (row[name]['accuracy'] - row['float_accuracy']):+.2f} pts "
                f"@ {row[name]['mean_bits']:.3f} bits"
                for name in args.variants
            ),
            flush=True,
        )
    summary = {
        name: {
            "drop_points": summarize(
                [100 * (r["float_accuracy"] - r[name]["accuracy"]) for r in per_seed]
            ),
            "mean_bits": summarize([r[name]["mean_bits"] for r in per_seed]),
        }
        for name in args.variants
    }
    if "thrifty" in args.variants:
        summary["thrifty_batch_ranges"] = {
            "drop_points": summarize(
                [
                    100 * (r["float_accuracy"] - r["thrifty"]["accuracy_batch_ranges"])
                    for r in per_seed
                ]
            )
        }
    path = write_result(
        args.name,
        {"command": command, "summary": summary, "per_seed": per_seed},
        config=vars(args),
        seed=args.seeds[0],
    )
    for name, row in summary.items():
        drop = row["drop_points"]
        print(f"{name:<22} drop {drop['mean']:+.2f} ± {drop['std']:.2f} pts (n={drop['n']})")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
