"""Export tests need the [export] extra; the trained digits models are built once a session."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("qonnx")

from tests.export._digits import trained


@pytest.fixture(scope="session")
def symmetric_digits():
    """(frozen model with int_symmetric weights, test images, labels)."""
    return trained("int_symmetric")
