"""`load_data(config)`: read a data set from disk into seeded, normalised in-memory splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from thrifty.data.cifar import load_cifar10_folder
from thrifty.data.config import FASHION_MNIST_DEFAULT_ROOT, DataConfig
from thrifty.data.digits import load_digits_arrays
from thrifty.data.idx import load_idx_folder
from thrifty.data.image_folder import load_image_folder
from thrifty.data.splits import DataSplits, Split, channel_stats, normalise, split_indices
from thrifty.errors import DataError

#: Image side from which `augment: auto` turns crop-and-flip on (CIFAR-style images).
AUTO_AUGMENT_MIN_SIZE = 32

_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


def _read(config: DataConfig) -> tuple[_Arrays, int]:
    """Raw uint8 arrays (train x, train y, test x or None, test y or None) and class count."""
    if config.name == "digits":
        images, labels = load_digits_arrays()
        return (images, labels, None, None), 10
    if config.name == "image_folder":
        if config.root is None:
            raise DataError("data.root is required for image_folder: a folder of class folders")
        images, labels, classes = load_image_folder(config.root, config.image_size)
        return (images, labels, None, None), len(classes)
    if config.name == "cifar10":
        if config.root is None:
            raise DataError("data.root is required for cifar10: the cifar-10-batches-py folder")
        train_x, train_y, test_x, test_y = load_cifar10_folder(config.root)
        return (train_x, train_y, test_x, test_y), 10
    root = config.root or (FASHION_MNIST_DEFAULT_ROOT if config.name == "fashion_mnist" else None)
    if root is None:
        raise DataError("data.root is required for mnist: a folder of MNIST IDX files")
    train_x, train_y, test_x, test_y = load_idx_folder(root)
    return (
        train_x[:, None],
        train_y.astype(np.int64),
        test_x[:, None],
        test_y.astype(np.int64),
    ), 10


def _missing_folder(config: DataConfig) -> bool:
    if config.name == "digits":
        return False
    root = config.root or (FASHION_MNIST_DEFAULT_ROOT if config.name == "fashion_mnist" else None)
    return root is None or not Path(root).is_dir()


def _subset(indices: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or limit >= len(indices):
        return indices
    return np.sort(np.random.default_rng(seed).choice(indices, size=limit, replace=False))


def load_data(config: DataConfig | None = None) -> DataSplits:
    """Read the configured data set into train/val/test splits (never downloads anything).

    Splits are drawn from `config.split_seed` and normalised with the training split's
    per-channel mean and std. With `fallback: digits`, a missing folder loads digits instead
    and `DataSplits.note` says so.
    """
    config = config or DataConfig()
    note = None
    if config.fallback is not None and _missing_folder(config):
        where = config.root or FASHION_MNIST_DEFAULT_ROOT
        note = (
            f"{config.name} not found at {where!r}; falling back to scikit-learn's bundled "
            f"digits (install the Debian package dataset-fashion-mnist or set data.root)"
        )
        config = config.model_copy(update={"name": config.fallback, "root": None})
    (train_x, train_y, test_x, test_y), num_classes = _read(config)
    seed = config.split_seed
    if test_x is None:
        test_i, val_i, train_i = split_indices(
            len(train_y), (config.test_fraction, config.val_fraction), seed
        )
        test_x, test_y = train_x[test_i], train_y[test_i]
    else:
        val_i, train_i = split_indices(len(train_y), (config.val_fraction,), seed)
    keep = _subset(np.arange(len(test_y)), config.test_subset, seed + 2)
    test_x, test_y = test_x[keep], test_y[keep]
    train_i = _subset(train_i, config.train_subset, seed + 1)
    val_i = _subset(val_i, config.test_subset, seed + 3)
    if len(train_i) == 0:
        raise DataError(f"data set {config.name!r} leaves no training samples after splitting")
    labels_max = int(max(train_y.max(), test_y.max()))
    if labels_max >= num_classes or min(train_y.min(), test_y.min()) < 0:
        raise DataError(
            f"data set {config.name!r} has labels outside 0..{num_classes - 1} (max {labels_max})"
        )
    mean, std = channel_stats(train_x[train_i])
    side = train_x.shape[-1]
    augment = config.augment == "crop_flip" or (
        config.augment == "auto" and side >= AUTO_AUGMENT_MIN_SIZE and train_x.shape[1] == 3
    )

    def make(images: np.ndarray, labels: np.ndarray) -> Split:
        return Split(normalise(images, mean, std), torch.from_numpy(labels.astype(np.int64)))

    return DataSplits(
        name=config.name,
        train=make(train_x[train_i], train_y[train_i]),
        val=make(train_x[val_i], train_y[val_i]),
        test=make(test_x, test_y),
        num_classes=num_classes,
        mean=mean,
        std=std,
        augment=augment,
        note=note,
    )
