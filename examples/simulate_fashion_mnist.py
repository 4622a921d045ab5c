"""First simulator results: train the small CNN on Fashion-MNIST (float32), trace, simulate.

Trains on the first `--images` training images for `--epochs` epochs (SGD, batch 64),
capturing every operand of the first step of the first and of the last epoch, then simulates
the trace with an accelerator preset and writes simulation.json, the PNG plots and a summary
per operation. Usage:

    python examples/simulate_fashion_mnist.py --out runs/fmnist --images 4000 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import thrifty.trace
from thrifty.data import FASHION_MNIST_DEFAULT_ROOT
from thrifty.data.idx import find_idx_file, read_idx
from thrifty.hw.config import SYNC_POLICIES, load_hardware_config
from thrifty.hw.sim.simulation import simulate_trace, write_simulation
from thrifty.models import build_model
from thrifty.report.simulation_plots import write_simulation_plots

FASHION = Path(FASHION_MNIST_DEFAULT_ROOT)


def load(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First `count` training images in [0, 1] (N, 1, 28, 28) and labels."""
    images = read_idx(find_idx_file(FASHION, "train-images-idx3-ubyte"))[:count]
    labels = read_idx(find_idx_file(FASHION, "train-labels-idx1-ubyte"))[:count]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--arch", default="default")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    x, y = load(args.images)
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=28)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    config = thrifty.trace.TraceConfig(epochs=[0, args.epochs - 1], steps="first")
    batches = -(-args.images // 64)
    with thrifty.trace.capture(model, args.out / "trace", config) as cap:
        for epoch in range(args.epochs):
            order = torch.randperm(args.images)
            correct = 0
            for step in range(batches):
                idx = order[step * 64 : (step + 1) * 64]
                cap.step(epoch, step, last_step=step == batches - 1)
                logits = model(x[idx])
                loss = torch.nn.functional.cross_entropy(logits, y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                correct += int((logits.argmax(1) == y[idx]).sum())
            print(f"epoch {epoch}: train accuracy {correct / args.images:.3f}")
    hw = load_hardware_config(args.arch)
    simulation = simulate_trace(args.out / "trace", hw)
    path = write_simulation(simulation, args.out)
    report = json.loads(path.read_text())
    write_simulation_plots(report, args.out)
    for epoch in sorted({r["epoch"] for r in report["layers"]}):
        for op in ("forward", "backward_data", "backward_weight"):
            records = [r for r in report["layers"] if r["epoch"] == epoch and r["op"] == op]
            base = sum(r["baseline_cycles"]["tile"] for r in records)
            speed = {p: base / sum(r["cycles"][p] for r in records) for p in SYNC_POLICIES}
            terms = {k: sum(r["terms"][k] for r in records) for k in records[0]["terms"]}
            share = {k: v / terms["total"] for k, v in terms.items()}
            e = sum(r["energy_pj"]["total_pj"] for r in records)
            eb = sum(r["baseline_energy_pj"]["total_pj"] for r in records)
            print(
                f"epoch {epoch} {op:16s} speedup tile {speed['tile']:.2f} row {speed['row']:.2f} "
                f"ideal {speed['ideal']:.2f}  energy eff. {eb / e:.2f}  terms zero "
                f"{share['zero']:.1%} oob {share['out_of_bounds']:.1%} "
                f"processed {share['processed']:.1%}"
            )
    t = report["total"]
    print(f"total speedup {t['speedup']}  energy eff. {t['energy_efficiency']:.2f}  "
          f"sweep {t['sweep_speedup']}")  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
