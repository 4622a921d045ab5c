"""Tiny data, model and budget for quickstart tests that run every stage for real, in seconds."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from thrifty.data import DataSplits, Split
from thrifty.quickstart.budget import FAST_BUDGET

TINY_BUDGET = dataclasses.replace(
    FAST_BUDGET,
    name="tiny",
    train_examples=96,
    test_examples=32,
    batch_size=16,
    reference_epochs=3,
    variant_epochs=1,
    finetune_epochs=1,
    trace_batch_size=4,
    sim_sample_fraction=0.25,
)
"""Sizes of a quickstart run of a few seconds on `separable_splits`."""


def separable_splits(name: str = "two bands") -> DataSplits:
    """128 seeded 8×8 images in two classes told apart by the sign of their top half."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(128) % 2
    images = torch.randn(128, 1, 8, 8, generator=generator) * 0.1
    images[:, 0, :4] += labels.view(-1, 1, 1).float() * 2 - 1
    empty = Split(images[:0], labels[:0])
    return DataSplits(
        name=name,
        train=Split(images[:96], labels[:96]),
        val=empty,
        test=Split(images[96:], labels[96:]),
        num_classes=2,
        mean=(0.0,),
        std=(1.0,),
        augment=False,
    )


class TinyNet(nn.Module):
    """A user's own model: one convolution and one linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def tiny_net(data: DataSplits) -> nn.Module:
    torch.manual_seed(0)
    return TinyNet()
