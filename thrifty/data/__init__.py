"""Data sets for training, read from disk into memory — never downloaded.

`load_data(DataConfig(name="fashion_mnist"))` returns seeded train/validation/test splits as
normalised tensors; `train_batches` / `eval_batches` iterate them reproducibly.
"""

from thrifty.data.batches import epoch_indices, eval_batches, steps_per_epoch, train_batches
from thrifty.data.config import FASHION_MNIST_DEFAULT_ROOT, DataConfig
from thrifty.data.loading import load_data
from thrifty.data.splits import DataSplits, Split

__all__ = [
    "FASHION_MNIST_DEFAULT_ROOT",
    "DataConfig",
    "DataSplits",
    "Split",
    "epoch_indices",
    "eval_batches",
    "load_data",
    "steps_per_epoch",
    "train_batches",
]
