"""Shared by the simulator tests: a real small trace of the small CNN on Fashion-MNIST images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import thrifty.trace
from thrifty.data.idx import find_idx_file, read_idx
from thrifty.models import build_model

FASHION = Path("/usr/share/datasets/fashion-mnist")


def fashion_images(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `count` training images (N, 1, 28, 28) scaled to [0, 1], and their labels."""
    images = read_idx(find_idx_file(FASHION, "train-images-idx3-ubyte"))[:count]
    labels = read_idx(find_idx_file(FASHION, "train-labels-idx1-ubyte"))[:count]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def capture_small_cnn_step(folder: Path, batch: int = 8) -> Path:
    """One SGD step of the small CNN on real images, every operation captured into `folder`."""
    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=28)
    x, y = fashion_images(batch)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with thrifty.trace.capture(model, folder):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return folder
