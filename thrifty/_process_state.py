"""Leave process-wide state as it was found: thread counts, random states, warnings filters.

Why: numba's parallel kernels start an OpenMP pool that sets the OpenMP thread count of the
whole process, which torch's CPU operators share, so one simulator call would silently turn a
user's `torch.set_num_threads(1)` into the number of cores (and change training results, since
float sums depend on how work is split). Training seeds the global random generators and
silences a few library warnings. Every library entry point that may do any of this runs inside
`preserved_process_state()`, which puts back:

- torch's intra-op thread count and numba's thread count;
- the random states of torch (CPU), numpy's global generator and Python's `random`;
- `warnings.filters`.

It is re-entrant (nested entry points each restore what they found) and usable as a decorator.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import torch


def _numba_threads() -> int:
    """numba's thread count, without letting the pool start that reading it may cause change
    torch's count (starting the OpenMP pool sets the process's OpenMP thread count)."""
    torch_threads = torch.get_num_threads()
    count = numba.get_num_threads()
    if torch.get_num_threads() != torch_threads:
        torch.set_num_threads(torch_threads)
    return count


@dataclass(frozen=True)
class ProcessState:
    """A snapshot of the process-wide state thrifty's entry points may touch."""

    torch_threads: int
    numba_threads: int
    torch_rng: torch.Tensor
    numpy_rng: tuple[Any, ...]
    python_rng: tuple[Any, ...]
    warning_filters: tuple[Any, ...]

    @classmethod
    def capture(cls) -> ProcessState:
        """The state now."""
        return cls(
            torch_threads=torch.get_num_threads(),
            numba_threads=_numba_threads(),
            torch_rng=torch.get_rng_state(),
            numpy_rng=np.random.get_state(),
            python_rng=random.getstate(),
            warning_filters=tuple(warnings.filters),
        )

    def restore(self) -> None:
        """Put back the thread counts (numba first: setting it may reset torch's) and random
        states; `preserved_process_state` restores the warnings filters."""
        if numba.get_num_threads() != self.numba_threads:
            numba.set_num_threads(self.numba_threads)
        if torch.get_num_threads() != self.torch_threads:
            torch.set_num_threads(self.torch_threads)
        torch.set_rng_state(self.torch_rng)
        np.random.set_state(self.numpy_rng)
        random.setstate(self.python_rng)

    def differences(self, other: ProcessState) -> list[str]:
        """Names of the parts that differ between two snapshots (for tests and messages)."""
        names = []
        if self.torch_threads != other.torch_threads:
            names.append(f"torch threads {self.torch_threads} -> {other.torch_threads}")
        if self.numba_threads != other.numba_threads:
            names.append(f"numba threads {self.numba_threads} -> {other.numba_threads}")
        if not torch.equal(self.torch_rng, other.torch_rng):
            names.append("torch random state")
        a, b = self.numpy_rng, other.numpy_rng
        if a[0] != b[0] or not np.array_equal(a[1], b[1]) or a[2:] != b[2:]:
            names.append("numpy random state")
        if self.python_rng != other.python_rng:
            names.append("python random state")
        if self.warning_filters != other.warning_filters:
            names.append("warnings filters")
        return names


@contextmanager
def preserved_process_state() -> Iterator[ProcessState]:
    """Run the body, then restore the thread counts, random states and warnings filters."""
    before = ProcessState.capture()
    with warnings.catch_warnings():  # restores warnings.filters the supported way
        try:
            yield before
        finally:
            before.restore()


@contextmanager
def preserved_thread_counts() -> Iterator[None]:
    """Run the body (a parallel numba kernel), then restore torch's and numba's thread counts.

    The light form of `preserved_process_state` for hot call sites: two integer reads.
    """
    torch_threads, numba_threads = torch.get_num_threads(), _numba_threads()
    try:
        yield
    finally:
        if numba.get_num_threads() != numba_threads:
            numba.set_num_threads(numba_threads)
        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)


__all__ = ["ProcessState", "preserved_process_state", "preserved_thread_counts"]
