"""scikit-learn's bundled digits (1,797 8×8 grey images, 10 classes): always available offline."""

from __future__ import annotations

import numpy as np

#: The digits' pixel values run from 0 to this value (4-bit counts of an 8×8 down-sampling).
DIGITS_MAX_VALUE = 16


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Images (1797, 1, 8, 8) uint8 scaled to 0..255 and labels (1797,) int64."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / DIGITS_MAX_VALUE)).astype(np.uint8)
    return images[:, None, :, :], bunch.target.astype(np.int64)
