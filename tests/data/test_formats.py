"""Readers of the on-disk formats, on small files written here in exactly those formats."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from thrifty.data import DataConfig, load_data
from thrifty.data.cifar import load_cifar10_folder
from thrifty.data.idx import load_idx_folder, read_idx
from thrifty.data.image_folder import load_image_folder
from thrifty.errors import DataError


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def make_idx_folder(root: Path, n_train: int = 40, n_test: int = 20, gz: bool = True) -> dict:
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    root.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        write_idx(root / (stem + (".gz" if gz else "")), array, gz)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_round_trips(tmp_path: Path, gz: bool) -> None:
    arrays = make_idx_folder(tmp_path, gz=gz)
    train_x, train_y, test_x, test_y = load_idx_folder(tmp_path)
    np.testing.assert_array_equal(train_x, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(train_y, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(test_x, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(test_y, arrays["t10k-labels-idx1-ubyte"])


def test_idx_truncated_and_wrong_magic(tmp_path: Path) -> None:
    path = tmp_path / "x-idx1-ubyte"
    write_idx(path, np.arange(10), gz=False)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataError, match="declares shape \\(10,\\).*truncated"):
        read_idx(path)
    path.write_bytes(b"\x01\x00\x08\x01" + b"\x00" * 8)
    with pytest.raises(DataError, match="two zero bytes"):
        read_idx(path)


def test_missing_idx_file_names_it(tmp_path: Path) -> None:
    make_idx_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        load_idx_folder(tmp_path)
    with pytest.raises(DataError, match="does not exist.*dataset-fashion-mnist"):
        load_idx_folder(tmp_path / "nowhere")


def test_mnist_config_reads_idx_folder(tmp_path: Path) -> None:
    make_idx_folder(tmp_path, n_train=50, n_test=30)
    data = load_data(DataConfig(name="mnist", root=str(tmp_path), val_fraction=0.2))
    assert (len(data.train), len(data.val), len(data.test)) == (40, 10, 30)
    assert data.train.images.shape[1:] == (1, 28, 28)
    assert not data.augment


def make_cifar_folder(root: Path, per_batch: int = 6, n_test: int = 5) -> None:
    rng = np.random.default_rng(2)
    root.mkdir(parents=True, exist_ok=True)
    for name, n in [*[(f"data_batch_{i}", per_batch) for i in range(1, 6)], ("test_batch", n_test)]:
        batch = {
            b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, n)],
        }
        with open(root / name, "wb") as handle:
            pickle.dump(batch, handle)


def test_cifar_folder(tmp_path: Path) -> None:
    make_cifar_folder(tmp_path)
    train_x, train_y, test_x, _ = load_cifar10_folder(tmp_path)
    assert train_x.shape == (30, 3, 32, 32) and test_x.shape == (5, 3, 32, 32)
    with open(tmp_path / "data_batch_1", "rb") as handle:
        first = pickle.load(handle)
    # Channel-major layout: the first 1024 values are the red plane of image 0.
    np.testing.assert_array_equal(train_x[0, 0].ravel(), first[b"data"][0, :1024])
    assert list(train_y[:6]) == first[b"labels"]
    data = load_data(DataConfig(name="cifar10", root=str(tmp_path), val_fraction=0.2))
    assert data.augment and data.in_channels == 3 and data.image_size == 32


def test_cifar_malformed_and_missing(tmp_path: Path) -> None:
    make_cifar_folder(tmp_path)
    (tmp_path / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="data_batch_3.*not a CIFAR-10 python batch"):
        load_cifar10_folder(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(DataError, match="missing CIFAR-10 batch.*data_batch_3"):
        load_cifar10_folder(tmp_path)
    with pytest.raises(DataError, match="data.root is required for cifar10"):
        load_data(DataConfig(name="cifar10"))


def test_image_folder(tmp_path: Path) -> None:
    colours = {"cat": (255, 0, 0), "dog": (0, 0, 255)}
    for name, colour in colours.items():
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("RGB", (20 + i, 16), colour).save(tmp_path / name / f"{i}.png")
    images, labels, classes = load_image_folder(tmp_path, image_size=8)
    assert classes == ["cat", "dog"] and list(labels) == [0, 0, 0, 1, 1, 1]
    assert images.shape == (6, 3, 8, 8)
    assert (images[0, 0] == 255).all() and (images[0, 2] == 0).all()
    assert (images[5, 2] == 255).all()
    (tmp_path / "dog" / "bad.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read image .*bad.png"):
        load_image_folder(tmp_path, image_size=8)
    with pytest.raises(DataError, match="no class sub-folders"):
        load_image_folder(tmp_path / "cat", image_size=8)
