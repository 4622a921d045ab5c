"""Simulate the operations of a trace on a Dask cluster (`dask.distributed`).

Why
---
One training step of an ImageNet-size model is billions of MACs, and a study simulates many
steps; one machine's cores are then not enough. The operations of a trace are independent, so
they map onto any task scheduler. We use an existing one, Dask's distributed scheduler, rather
than a home-made pool: it brings worker management, retries, a dashboard and deployment on
SSH, Kubernetes, SLURM and the clouds.

How
---
The client sends each worker a small task: the trace folder (a path every worker can read, i.e.
a shared file system), the entry's index and the hardware config. The worker opens the store
with the same reader as a local run (`thrifty.trace.open_trace`, with its size and SHA-256
checks), simulates that one entry with `simulate_operation` and the same per-entry seed, and
returns its `OpResult`. The client gathers the records in trace order, so the result is
bit-identical to a local run. Tensors never travel through the scheduler.

Dask is an optional dependency (`pip install "thrifty[dask]"`); it is imported only here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from thrifty._version import __version__
from thrifty.errors import ConfigError, SimulationError
from thrifty.hw.sim.results import OpResult

CONNECT_TIMEOUT_S = 10.0
"""Default seconds to wait for the scheduler to answer, and for a first worker to join."""

INSTALL_HINT = 'pip install "thrifty[dask]"'


def _distributed() -> Any:
    """The `distributed` package, or a ConfigError that names the extra to install."""
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            "simulating on a Dask cluster (scheduler=...) needs dask.distributed, which is not "
            f"installed; install it with {INSTALL_HINT} (on the workers too), or omit the "
            "scheduler to simulate on this machine"
        ) from None
    return distributed


def _worker_version() -> str:
    return __version__


def connect(address: str, timeout_s: float | None = None) -> Any:
    """A `distributed.Client` connected to the scheduler at `address` (e.g. tcp://host:8786).

    Raises SimulationError naming the address when no scheduler answers within `timeout_s`
    (default `CONNECT_TIMEOUT_S`), and ConfigError when dask.distributed is not installed.
    """
    distributed = _distributed()
    if timeout_s is None:
        timeout_s = CONNECT_TIMEOUT_S
    if not isinstance(address, str) or not address.strip():
        raise ConfigError(
            f"scheduler address {address!r} is not valid; give the address the scheduler "
            "prints at start-up, e.g. tcp://10.0.0.5:8786"
        )
    try:
        return distributed.Client(address, timeout=timeout_s)
    except (OSError, TimeoutError, ValueError) as error:
        raise SimulationError(
            f"cannot reach a Dask scheduler at {address!r} within {timeout_s:g} s ({error}); "
            "start one with `dask scheduler` and workers with `dask worker ADDRESS`, and pass "
            "the address the scheduler prints (tcp://HOST:8786)"
        ) from None


def _check_workers(client: Any, address: str, timeout_s: float) -> None:
    """At least one worker must join within `timeout_s`, and every worker must run this thrifty
    version: another version could simulate otherwise."""
    try:
        client.wait_for_workers(1, timeout=timeout_s)
    except TimeoutError:
        raise SimulationError(
            f"the Dask scheduler at {address!r} has no workers (none joined within "
            f"{timeout_s:g} s); start some with `dask worker {address}` on machines that see "
            "the trace folder"
        ) from None
    versions = client.run(_worker_version)
    other = {worker: v for worker, v in versions.items() if v != __version__}
    if other:
        raise SimulationError(
            f"Dask workers {sorted(other)} run thrifty {sorted(set(other.values()))}, this "
            f"client runs {__version__}; install the same thrifty version on every worker"
        )


def simulate_on_cluster(
    task: Callable[[tuple[Any, ...]], OpResult],
    tasks: Sequence[tuple[Any, ...]],
    address: str,
    timeout_s: float | None = None,
) -> list[OpResult]:
    """Run `task` on each of `tasks` on the cluster at `address`; results in the tasks' order.

    `task` must be an importable module-level function (workers import it by name) and each
    task must name a trace folder the workers can read. An error raised on a worker (e.g. a
    TraceError for a folder it cannot see) is raised here unchanged.
    """
    if timeout_s is None:
        timeout_s = CONNECT_TIMEOUT_S
    with connect(address, timeout_s) as client:
        _check_workers(client, address, timeout_s)
        # pure=False: one task per entry even when two entries look alike.
        futures = client.map(task, list(tasks), pure=False)
        return list(client.gather(futures))


def shared_folder(folder: str | Path) -> str:
    """The absolute form of `folder`, which workers on other machines resolve the same way."""
    return str(Path(folder).resolve())


__all__ = ["CONNECT_TIMEOUT_S", "connect", "shared_folder", "simulate_on_cluster"]
