"""Seeded, deterministic train/validation/test splits and per-channel normalisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Split:
    """One split held in memory: normalised float images (N, C, H, W) and int64 labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class DataSplits:
    """Train, validation and test splits of one data set, with what a model needs to know."""

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool
    note: str | None = None

    @property
    def in_channels(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])

    def describe(self) -> dict[str, object]:
        """A JSON-able description: sizes, shape, normalisation, and any fallback note."""
        return {
            "name": self.name,
            "train": len(self.train),
            "val": len(self.val),
            "test": len(self.test),
            "num_classes": self.num_classes,
            "shape": list(self.train.images.shape[1:]),
            "mean": list(self.mean),
            "std": list(self.std),
            "augment": self.augment,
            "note": self.note,
        }


def seeded_permutation(n: int, seed: int) -> np.ndarray:
    """The same permutation of range(n) for the same seed, on every machine."""
    return np.random.default_rng(seed).permutation(n)


def split_indices(n: int, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Cut a seeded permutation of range(n) into leading parts of the given fractions + the rest.

    Each leading part gets round(fraction · n) items; the last part gets what remains.
    """
    order = seeded_permutation(n, seed)
    parts, start = [], 0
    for fraction in fractions:
        count = round(fraction * n)
        parts.append(np.sort(order[start : start + count]))
        start += count
    parts.append(np.sort(order[start:]))
    return parts


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images scaled to [0, 1]."""
    scaled = images.astype(np.float64) / 255.0
    mean = scaled.mean(axis=(0, 2, 3))
    std = scaled.std(axis=(0, 2, 3))
    std = np.where(std > 0, std, 1.0)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def normalise(images: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 (N, C, H, W) → float32 tensor (x / 255 − mean) / std per channel."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return tensor.sub_(mean_t).div_(std_t)
