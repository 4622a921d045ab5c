"""Shared test settings: deterministic Hypothesis, seeded torch, one torch thread per worker."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Tests run two at a time under pytest-xdist on a 2-core machine: one thread each.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    """Every test starts from the same random state and torch thread count, whatever ran
    before it (float sums round differently with another thread count, and a simulation in an
    earlier test of the same worker leaves torch at the core count)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    import random

    import numpy as np

    np.random.seed(0)
    random.seed(0)


@pytest.fixture
def one_torch_thread():
    """Pin torch to one thread for a test whose exact numbers depend on the thread count (float
    sums split differently across threads), and restore the count afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
