"""Shared by the simulator tests: a real small trace of the small CNN on Fashion-MNIST images."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

import thrifty.trace
from thrifty.models import build_model

FASHION = Path("/usr/share/datasets/fashion-mnist")


def fashion_images(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `count` training images (N, 1, 28, 28) scaled to [0, 1], and their labels."""
    with gzip.open(FASHION / "train-images-idx3-ubyte.gz") as handle:
        images = np.frombuffer(handle.read(), np.uint8, offset=16)[: count * 784]
    with gzip.open(FASHION / "train-labels-idx1-ubyte.gz") as handle:
        labels = np.frombuffer(handle.read(), np.uint8, offset=8)[:count]
    x = torch.from_numpy(images.reshape(count, 1, 28, 28).astype(np.float32) / 255.0)
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
