"""Bits per value of the off-chip codec on Fashion-MNIST small-CNN training traces.

Trains thrifty's small CNN briefly on a subset of Fashion-MNIST (read from the IDX .gz files),
captures the operands of every layer's three training operations at a few steps of each epoch,
and reports the codec's bits per value per tensor class (activation, weight, gradient) for the
exponent-only delta, whole-value delta and plain variants. Training is float32; the captured
tensors are rounded to bfloat16 (what a bfloat16 accelerator moves) before encoding.

Run: python benchmarks/codec_fashion_mnist.py [--images 4000 --epochs 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

import thrifty.trace
from benchmarks._common import RESULTS, write_result
from thrifty.data import FASHION_MNIST_DEFAULT_ROOT
from thrifty.data.idx import find_idx_file, read_idx
from thrifty.hw.codec import CodecConfig
from thrifty.hw.codec.accounting import measure_trace
from thrifty.models import build_model

SEED = 0
DATA = Path(FASHION_MNIST_DEFAULT_ROOT)
#: Variants compared: (name, config). "plain" is bfloat16 as stored today (16 bits per value).
VARIANTS: list[tuple[str, CodecConfig]] = [
    ("plain", CodecConfig(mode="none", zero_bitmap=False)),
    ("plain+zero_bitmap", CodecConfig(mode="none", zero_bitmap=True)),
    *[
        (
            f"{mode}/G{group}{'' if bitmap else '/no_bitmap'}",
            CodecConfig(group=group, mode=mode, zero_bitmap=bitmap),
        )
        for mode in ("exponent_delta", "value_delta")
        for group in (8, 16, 32)
        for bitmap in (True, False)
    ],
]


def _load(images: int, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = read_idx(find_idx_file(DATA, f"{split}-images-idx3-ubyte"))[:images]
    y = read_idx(find_idx_file(DATA, f"{split}-labels-idx1-ubyte"))[:images]
    x = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    return (x - 0.2860) / 0.3530, torch.from_numpy(y.astype(np.int64))


def _train_and_capture(folder: Path, args: argparse.Namespace) -> dict[str, float]:
    torch.manual_seed(SEED)
    x, y = _load(args.images, "train")
    x_test, y_test = _load(1000, "t10k")
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=28)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    steps = (len(x) + args.batch - 1) // args.batch
    captured = sorted({0, steps // 2, steps - 1})
    config = thrifty.trace.TraceConfig(steps=captured)
    losses = []
    with thrifty.trace.capture(model, folder, config) as cap:
        for epoch in range(args.epochs):
            order = torch.randperm(len(x))
            for step in range(steps):
                index = order[step * args.batch : (step + 1) * args.batch]
                cap.step(epoch=epoch, step=step, last_step=step == steps - 1)
                loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    return {
        "final_loss": float(np.mean(losses[-steps:])),
        "test_accuracy": accuracy,
        "captured_steps_per_epoch": captured,
    }


def markdown_table(results: dict) -> str:
    """The per-class table of docs/results.md, rendered from the result JSON."""
    lines = [
        "| variant | activation | weight | gradient | all operand traffic |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, report in results["variants"].items():
        by_class = report["by_class"]
        cells = [
            f"{by_class[c]['bits_per_value']:.2f}" for c in ("activation", "weight", "gradient")
        ]
        total = report["total"]["bits_per_value"]
        lines.append(f"| {name} | {' | '.join(cells)} | {total:.2f} |")
    return "\n".join(lines)


def layer_op_table(results: dict, variant: str = "exponent_delta/G16") -> str:
    """Operand traffic per layer and operation for one variant, rendered from the result JSON."""
    lines = [
        "| layer | operation | operand values | bits per value |",
        "|---|---|---:|---:|",
    ]
    for row in results["variants"][variant]["by_layer_op"]:
        lines.append(
            f"| {row['layer']} | {row['op']} | {row['values']:,} | {row['bits_per_value']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--table-only", action="store_true", help="Print the table of the last result JSON."
    )
    args = parser.parse_args()
    if args.table_only:
        results = json.loads((RESULTS / "codec_fashion_mnist.json").read_text())["results"]
        print(markdown_table(results))
        print()
        print(layer_op_table(results))
        return
    with tempfile.TemporaryDirectory(prefix="codec_fmnist_") as tmp:
        folder = Path(tmp) / "trace"
        training = _train_and_capture(folder, args)
        print(f"trained: {training}")
        variants = {}
        for name, config in VARIANTS:
            report = measure_trace(folder, config, check_lossless=name == "exponent_delta/G16")
            variants[name] = report.to_dict()
            by_class = report.by_class()
            print(
                f"{name:32s} "
                + "  ".join(f"{k} {v.bits_per_value:6.3f}" for k, v in by_class.items())
                + f"  | traffic {report.total().bits_per_value:6.3f} bits/value"
            )
    path = write_result(
        "codec_fashion_mnist",
        {"training": training, "variants": variants},
        {"images": args.images, "epochs": args.epochs, "batch": args.batch, "model": "small_cnn"},
        SEED,
    )
    results = json.loads(path.read_text())["results"]
    print(markdown_table(results))
    print()
    print(layer_op_table(results))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
