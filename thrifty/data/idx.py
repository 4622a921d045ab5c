"""Reader for IDX files (MNIST, Fashion-MNIST), gzipped or raw.

IDX format (LeCun's): two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions, then one big-endian uint32 per dimension, then the values in C order.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from thrifty.errors import DataError

#: IDX type code of unsigned bytes, the only type MNIST-style files use.
IDX_UBYTE = 0x08

#: File stems of the four files of an MNIST-style folder.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped for `.gz`; any read or decompression failure is a DataError
    naming the file (a truncated gzip stream raises EOFError, which a CLI would turn into a bare
    "Aborted!")."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise DataError(f"{str(path)!r} is a directory; an IDX file was expected there") from None
    except OSError as error:
        raise DataError(f"cannot read IDX file {str(path)!r}: {error.strerror or error}") from None
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except EOFError:
        problem = "the gzip stream ends early: the file is truncated"
    except (gzip.BadGzipFile, zlib.error) as error:
        problem = f"the gzip data is corrupted ({error})"
    raise DataError(
        f"{str(path)!r} cannot be decompressed: {problem}; reinstall the data set (e.g. "
        "`apt-get install --reinstall dataset-fashion-mnist`) or replace the file"
    )


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a uint8 array of its declared shape."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{str(path)!r} is not an IDX file: it must start with two zero bytes")
    if raw[2] != IDX_UBYTE:
        raise DataError(
            f"{str(path)!r} holds IDX type 0x{raw[2]:02x}; only unsigned bytes (0x08) are read"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{str(path)!r} is truncated inside its IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape)) if shape else 0
    if len(raw) - header != expected:
        raise DataError(
            f"{str(path)!r} declares shape {shape} ({expected} bytes) but holds "
            f"{len(raw) - header} bytes: the file is truncated or corrupted"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def find_idx_file(root: Path, stem: str) -> Path:
    """The file `stem` or `stem.gz` in `root` (also accepts MNIST's `t10k-images.idx3-ubyte`)."""
    candidates = [stem, stem + ".gz"]
    dotted = stem.replace("-idx", ".idx")
    candidates += [dotted, dotted + ".gz"]
    for name in candidates:
        if (root / name).is_file():
            return root / name
    raise DataError(
        f"missing {stem}[.gz] in {str(root)!r}: an MNIST-style folder holds "
        f"{', '.join(s + '[.gz]' for s in IDX_FILES.values())}"
    )


def load_idx_folder(root: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train images, train labels, test images, test labels of an MNIST-style IDX folder."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            f"IDX data folder {str(root)!r} does not exist; install the Debian package "
            "dataset-fashion-mnist or set data.root to a folder of IDX files"
        )
    arrays = [read_idx(find_idx_file(root, stem)) for stem in IDX_FILES.values()]
    train_x, train_y, test_x, test_y = arrays
    for images, labels, split in ((train_x, train_y, "train"), (test_x, test_y, "test")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{split} files in {str(root)!r} have shapes {images.shape} and {labels.shape}; "
                "expected (N, rows, cols) images and (N,) labels"
            )
    return train_x, train_y, test_x, test_y
