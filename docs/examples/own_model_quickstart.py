"""The quickstart pipeline on your own model and data (docs/quickstart.md).

Run: python docs/examples/own_model_quickstart.py [OUT_DIR]  — a tiny model of your own on
random 8×8 images: thrifty trains it (the float32 reference) and, from its weights, the
pruned, learned-integer-bits and learned-per-layer-float variants, with `thrifty.train.train`;
captures one training step of each, simulates it, runs the codec, judges the claims and
writes OUT_DIR/report.json and OUT_DIR/report.html (default OUT_DIR: own-model-report).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch
from torch import nn

from thrifty.data import DataSplits, Split
from thrifty.quickstart import run_quickstart
from thrifty.quickstart.budget import FAST_BUDGET
from thrifty.quickstart.stages import QuickstartStages


class MyNet(nn.Module):
    """Your model: any nn.Module made of Conv/Linear layers (and whatever else)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def my_data(choice, budget) -> DataSplits:
    """Stage 1: your data, as in-memory splits (normalised images, int64 labels)."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(256, 1, 8, 8, generator=generator)
    labels = torch.randint(0, 4, (256,), generator=generator)
    images[labels == 1] += 0.5  # something to learn
    return DataSplits(
        name="random 8×8 images",
        train=Split(images[:192], labels[:192]),
        val=Split(images[:0], labels[:0]),  # none: each epoch is evaluated on the test split
        test=Split(images[192:], labels[192:]),
        num_classes=4,
        mean=(0.0,),
        std=(1.0,),
        augment=False,
    )


def my_model(data: DataSplits) -> nn.Module:
    """Stage 2: your float32 model, untrained (seed its initialisation)."""
    torch.manual_seed(0)
    return MyNet()


# A small budget: the batch size, the epochs of each variant, the captured batch, the
# simulator's sampling.
budget = dataclasses.replace(
    FAST_BUDGET, name="own-model", batch_size=32, reference_epochs=2, sim_sample_fraction=0.05
)
stages = QuickstartStages(load_data=my_data, build_model=my_model)
out = Path(sys.argv[1] if len(sys.argv) > 1 else "own-model-report")
result = run_quickstart(out, progress=False, stages=stages, budget=budget)

for variant in result.report.variants:
    print(
        f"{variant.name}: accuracy {variant.accuracy:.2f}, tile-sync speedup "
        f"{variant.total.speedup['tile']:.2f}x"
    )
for claim in result.report.claims:
    against = f" against {claim.baseline}" if claim.baseline else ""
    print(f"claim {claim.number}{against}: {'held' if claim.held else 'not held'}")
print(f"wrote {result.report_json} and {result.report_html}")
