"""LeNet-5 (LeCun et al., 1998) with ReLU and max-pooling, for 28×28 or 32×32 images."""

from __future__ import annotations

import torch
from torch import nn


class LeNet5(nn.Module):
    """conv(5×5, 6) → pool → conv(5×5, 16) → pool → fc 120 → fc 84 → fc classes."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> None:
        super().__init__()
        # 28×28 inputs are padded by 2 so both sizes reach the classic 5×5×16 feature map.
        padding = 2 if image_size == 28 else 0
        self.conv1 = nn.Conv2d(in_channels, 6, kernel_size=5, padding=padding)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.pool = nn.MaxPool2d(2)
        self.relu = nn.ReLU()
        side = ((image_size + 2 * padding - 4) // 2 - 4) // 2
        self.fc1 = nn.Linear(16 * side * side, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = self.relu(self.fc1(x))
        x = self.relu(self.fc2(x))
        return self.fc3(x)
