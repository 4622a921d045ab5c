"""Reader for CIFAR-10's python-format folder (`cifar-10-batches-py`).

The folder holds pickles `data_batch_1` … `data_batch_5` and `test_batch`, each a dict with
`b"data"` (N × 3072 uint8, channel-major 3 × 32 × 32) and `b"labels"` (N ints).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from thrifty.errors import DataError

#: Files of the training split, in order.
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
#: File of the test split.
CIFAR_TEST_FILE = "test_batch"
#: Channels and side of a CIFAR image.
CIFAR_SHAPE = (3, 32, 32)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one CIFAR python batch file."""
    if not path.is_file():
        raise DataError(
            f"missing CIFAR-10 batch {str(path)!r}: a CIFAR-10 python folder holds "
            f"{', '.join(CIFAR_TRAIN_FILES)} and {CIFAR_TEST_FILE}"
        )
    try:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
        raise DataError(
            f"{str(path)!r} is not a CIFAR-10 python batch (a pickled dict with b'data' and "
            f"b'labels'): {error}"
        ) from None
    size = int(np.prod(CIFAR_SHAPE))
    if data.ndim != 2 or data.shape[1] != size or len(data) != len(labels):
        raise DataError(
            f"{str(path)!r} holds data of shape {data.shape} and {len(labels)} labels; "
            f"expected (N, {size}) and N labels"
        )
    return data.reshape(-1, *CIFAR_SHAPE), labels


def load_cifar10_folder(root: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train images, train labels, test images, test labels of a CIFAR-10 python folder."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            f"CIFAR-10 folder {str(root)!r} does not exist; set data.root to the extracted "
            "cifar-10-batches-py folder (thrifty never downloads data)"
        )
    parts = [read_cifar_batch(root / name) for name in CIFAR_TRAIN_FILES]
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    test_x, test_y = read_cifar_batch(root / CIFAR_TEST_FILE)
    return train_x, train_y, test_x, test_y
