"""Which data set the quickstart trains on: Fashion-MNIST when installed, else digits.

Fashion-MNIST comes from Debian's `dataset-fashion-mnist` package (IDX files, gzipped or not,
under `thrifty.data.FASHION_MNIST_DEFAULT_ROOT`). Without it the quickstart uses scikit-learn's
bundled digits (1,797 8×8 images), which is always available, and says so in the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from thrifty.data.config import FASHION_MNIST_DEFAULT_ROOT
from thrifty.data.idx import IDX_FILES

FASHION_MNIST_DIR = Path(FASHION_MNIST_DEFAULT_ROOT)
"""Where Debian's `dataset-fashion-mnist` installs the IDX files."""

FASHION_MNIST_FILES = tuple(IDX_FILES.values())
"""The four IDX files of Fashion-MNIST (each may also end in `.gz`)."""

FASHION_MNIST_IMAGE_SIZE = 28
DIGITS_IMAGE_SIZE = 8


@dataclass(frozen=True)
class DatasetChoice:
    """The data set to use, where it is, and why the preferred one was not used."""

    name: str
    root: Path | None
    fell_back: bool
    reason: str | None
    image_size: int
    num_classes: int = 10


def _missing_files(root: Path) -> list[str]:
    return [
        name
        for name in FASHION_MNIST_FILES
        if not (root / name).is_file() and not (root / f"{name}.gz").is_file()
    ]


def choose_dataset(root: Path | None = None) -> DatasetChoice:
    """Fashion-MNIST from `root` (default: FASHION_MNIST_DIR) if complete, else digits."""
    root = FASHION_MNIST_DIR if root is None else Path(root)
    if not root.is_dir():
        reason = f"no folder {str(root)!r} (install Debian's dataset-fashion-mnist)"
    else:
        missing = _missing_files(root)
        if not missing:
            return DatasetChoice("fashion-mnist", root, False, None, FASHION_MNIST_IMAGE_SIZE)
        reason = f"{str(root)!r} lacks {', '.join(missing)}"
    return DatasetChoice("digits", None, True, reason, DIGITS_IMAGE_SIZE)


def describe(choice: DatasetChoice) -> str:
    """One line for the progress display and the report."""
    if choice.fell_back:
        return f"data set: scikit-learn digits (Fashion-MNIST not used: {choice.reason})"
    return f"data set: Fashion-MNIST from {choice.root}"


__all__ = ["FASHION_MNIST_DIR", "DatasetChoice", "choose_dataset", "describe"]
