"""Fixtures shared by the quantizer tests."""

from __future__ import annotations

import pytest

from thrifty.quant import functional as F


@pytest.fixture(params=[True, False], ids=["numba", "torch"])
def kernels(request):
    """Each test twice: with the numba kernels, and with the PyTorch path they must equal."""
    previous = F.use_kernels()
    F.use_kernels(request.param)
    yield request.param
    F.use_kernels(previous)
