"""Every reader names the damaged file and what is wrong, as a ThriftyError with no traceback:
truncated or corrupted gzip IDX files, binary or non-UTF-8 configs, a directory instead of a
file. An empty config is accepted, and the CLI says the defaults are used."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from tests.train._runs import cli, write_config
from thrifty._config import is_empty_config, read_yaml_mapping
from thrifty.data.idx import IDX_FILES, read_idx
from thrifty.errors import ConfigError, DataError


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def _write_idx_folder(folder: Path, n: int = 40) -> Path:
    """A valid gzipped MNIST-style folder of n random 8x8 images per split."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n, 8, 8)),
        "train_labels": rng.integers(0, 10, n),
        "test_images": rng.integers(0, 256, (n, 8, 8)),
        "test_labels": rng.integers(0, 10, n),
    }
    for key, stem in IDX_FILES.items():
        (folder / f"{stem}.gz").write_bytes(gzip.compress(_idx_bytes(arrays[key]), mtime=0))
    return folder


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))


def test_valid_gzip_idx_round_trips(tmp_path: Path) -> None:
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(_idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(path), array)


def test_truncated_gzip_idx_names_the_file(tmp_path: Path) -> None:
    folder = _write_idx_folder(tmp_path / "idx")
    path = folder / "train-images-idx3-ubyte.gz"
    _truncate(path)
    with pytest.raises(DataError, match=rf"'{path}' cannot be decompressed: .* truncated"):
        read_idx(path)


def test_corrupted_gzip_idx_names_the_file(tmp_path: Path) -> None:
    folder = _write_idx_folder(tmp_path / "idx")
    path = folder / "train-images-idx3-ubyte.gz"
    _corrupt(path)
    with pytest.raises(DataError, match=rf"'{path}' cannot be decompressed: .* corrupted"):
        read_idx(path)


def test_directory_instead_of_idx_file(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.mkdir()
    with pytest.raises(DataError, match=rf"'{path}' is a directory"):
        read_idx(path)


@pytest.mark.parametrize("damage", [_truncate, _corrupt])
def test_train_cli_on_a_damaged_gzip_prints_one_named_error(tmp_path: Path, damage) -> None:
    folder = _write_idx_folder(tmp_path / "idx")
    path = folder / "t10k-images-idx3-ubyte.gz"
    damage(path)
    config = write_config(
        tmp_path / "c.yaml",
        {"device": "cpu", "data": {"name": "fashion_mnist", "root": str(folder)}},
    )
    done = cli("train", str(config), "--out", str(tmp_path / "run"))
    assert done.returncode == 2, done.stderr
    assert str(path) in done.stderr and "cannot be decompressed" in done.stderr
    assert "Traceback" not in done.stderr and "Aborted" not in done.stderr


def test_binary_config_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 512, dtype=np.uint8)))
    with pytest.raises(ConfigError, match=rf"'{path}' is not UTF-8 text .* binary or damaged"):
        read_yaml_mapping(path)


def test_directory_as_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"'{tmp_path}' is a directory; pass the path of a"):
        read_yaml_mapping(tmp_path)


def test_binary_config_in_the_cli_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage\x80")
    done = cli("train", str(path))
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: config file") and str(path) in done.stderr
    assert "Traceback" not in done.stderr


def test_empty_config_trains_the_defaults_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing set\n")
    assert is_empty_config(path) and read_yaml_mapping(path) == {}
    overrides = ["data.train_subset=64", "data.test_subset=32", "phases.float.epochs=1",
                 "phases.learn.epochs=0", "phases.finetune.epochs=0", "device=cpu"]  # fmt: skip
    args = [a for o in overrides for a in ("--set", o)]
    done = cli("train", str(path), *args, "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "is empty" in line]
    assert notes == [f"note: config '{path}' is empty: the defaults are used"]
    assert os.path.isfile(tmp_path / "run" / "summary.json")
