"""A small CNN for 28×28 single-channel images (Fashion-MNIST, MNIST): the quickstart model."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """conv(1→16) → pool → conv(16→32) → pool → fc(32·7·7→64) → fc(64→classes).

    Two convolutions and two linear layers: small enough to train in minutes on a CPU, deep
    enough that per-layer bitlengths differ.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()
        pooled = image_size // 4
        self.fc1 = nn.Linear(32 * pooled * pooled, 64)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc2(self.relu(self.fc1(x)))
