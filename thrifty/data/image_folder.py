"""Reader for class-per-folder images (ImageNet style): `root/<class>/<image>` read with Pillow.

Classes are the sorted sub-folder names; every image is converted to RGB and resized to a
square side (bilinear) so that the whole set fits one in-memory tensor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from thrifty.errors import DataError

#: File endings read as images.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".tif", ".tiff")


def load_image_folder(
    root: str | Path, image_size: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images (N, 3, S, S) uint8, labels (N,) int64 and class names of a class-per-folder tree."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            f"image folder {str(root)!r} does not exist; set data.root to a folder with one "
            "sub-folder of images per class"
        )
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(
            f"image folder {str(root)!r} has no class sub-folders; expected root/<class>/<image>"
        )
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(
                f"class folder {str(root / name)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})"
            )
        for file in files:
            try:
                with Image.open(file) as image:
                    rgb = image.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
            except (UnidentifiedImageError, OSError) as error:
                raise DataError(f"cannot read image {str(file)!r}: {error}") from None
            images.append(np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1))
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64), classes
