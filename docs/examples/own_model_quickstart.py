"""The quickstart pipeline on your own model and data loader (docs/quickstart.md).

Run: python docs/examples/own_model_quickstart.py [OUT_DIR]  — a tiny model of your own on
random 8×8 images: the float32 reference trains in your stage function; thrifty trains the
pruned, learned-integer-bits and learned-per-layer-float variants from it, captures one
training step of each, simulates it, runs the codec, judges the claims and writes
OUT_DIR/report.json and OUT_DIR/report.html (default OUT_DIR: own-model-report).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from thrifty.quickstart import run_quickstart
from thrifty.quickstart.budget import FAST_BUDGET
from thrifty.quickstart.stages import (
    DataBundle,
    QuickstartStages,
    TrainedVariant,
    accuracy,
    fit,
)


class MyNet(nn.Module):
    """Your model: any nn.Module made of Conv/Linear layers (and whatever else)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


torch.manual_seed(0)
images, labels = torch.randn(256, 1, 8, 8), torch.randint(0, 4, (256,))
images[labels == 1] += 0.5  # something to learn
train_loader = DataLoader(TensorDataset(images[:192], labels[:192]), batch_size=32, shuffle=True)
test_loader = DataLoader(TensorDataset(images[192:], labels[192:]), batch_size=64)


def my_data(choice, budget) -> DataBundle:
    """Stage 1: your data. `trace_batch` is the batch whose training step is captured."""
    return DataBundle(
        train_loader=train_loader,
        test_loader=test_loader,
        trace_batch=(images[:8], labels[:8]),
        train_examples=192,
        test_examples=64,
        image_size=8,
        num_classes=4,
        name="random 8×8 images",
    )


def my_reference(data: DataBundle, budget, run_dir: Path) -> TrainedVariant:
    """Stage 2: your float32 model, trained (here with thrifty's plain SGD loop `fit`)."""
    model = MyNet()
    start = time.perf_counter()
    fit(model, data.train_loader, epochs=2)
    seconds = time.perf_counter() - start
    return TrainedVariant("float32", model, accuracy(model, data.test_loader), seconds)


# A small budget: epochs of the variants, captured batch, simulator sampling.
budget = dataclasses.replace(FAST_BUDGET, name="own-model", sim_sample_fraction=0.05)
stages = QuickstartStages(load_data=my_data, train_reference=my_reference)
out = Path(sys.argv[1] if len(sys.argv) > 1 else "own-model-report")
result = run_quickstart(out, progress=False, stages=stages, budget=budget)

for variant in result.report.variants:
    print(
        f"{variant.name}: accuracy {variant.accuracy:.2f}, tile-sync speedup "
        f"{variant.total.speedup['tile']:.2f}x"
    )
for claim in result.report.claims:
    print(f"claim {claim.number}: {'held' if claim.held else 'not held'}")
print(f"wrote {result.report_json} and {result.report_html}")
