"""Simulation on a Dask cluster: identical records to a local run; clear errors otherwise."""

from __future__ import annotations

import dataclasses
import socket
import sys

import pytest

from tests.hw._sim_helpers import FASHION, capture_small_cnn_step
from thrifty.errors import ConfigError, SimulationError
from thrifty.hw.config import HardwareConfig
from thrifty.hw.sim import distributed
from thrifty.hw.sim.simulation import simulate_trace

distributed_pkg = pytest.importorskip("distributed")


def _config() -> HardwareConfig:
    # sampling < 1 makes each record depend on its entry's seed: a shuffled or re-indexed
    # entry on a worker would show up as a different record
    return HardwareConfig.model_validate(
        {"tile": {"rows": 4, "cols": 4, "tiles": 2}, "sampling": {"fraction": 0.5, "seed": 3}}
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory):
    if not FASHION.is_dir():
        pytest.skip("Fashion-MNIST IDX files are not installed")
    return capture_small_cnn_step(tmp_path_factory.mktemp("trace") / "t", batch=2)


@pytest.mark.slow
def test_cluster_run_is_identical_to_local_run(small_trace):
    local = simulate_trace(small_trace, _config())
    with distributed_pkg.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = simulate_trace(small_trace, _config(), scheduler=cluster.scheduler_address)
    assert len(remote.layers) == len(local.layers) == 11
    for mine, theirs in zip(local.layers, remote.layers, strict=True):
        assert dataclasses.asdict(theirs) == dataclasses.asdict(mine)
    assert remote.total == local.total
    drop = ("created_utc", "machine")
    local_json = {k: v for k, v in local.to_dict().items() if k not in drop}
    remote_json = {k: v for k, v in remote.to_dict().items() if k not in drop}
    assert remote_json == local_json
    assert any(r.sampled_fraction < 1 for r in remote.layers)  # the seeds really mattered


def test_unreachable_scheduler_names_address_and_fix(monkeypatch, small_trace):
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(SimulationError, match=r"cannot reach a Dask scheduler at .*127\.0\.0\.1.*"
                       r"dask scheduler"):  # fmt: skip
        simulate_trace(small_trace, _config(), scheduler=address)


def test_scheduler_without_workers_is_an_error(monkeypatch, small_trace):
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 1.0)
    no_workers = pytest.raises(SimulationError, match=r"has no workers .*`dask worker inproc://")
    cluster = distributed_pkg.LocalCluster(n_workers=0, processes=False, dashboard_address=None)
    with cluster, no_workers:
        simulate_trace(small_trace, _config(), scheduler=cluster.scheduler_address)


def test_missing_dask_names_the_extra(monkeypatch, small_trace):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=r'pip install "thrifty\[dask\]"'):
        simulate_trace(small_trace, _config(), scheduler="tcp://127.0.0.1:8786")


def test_jobs_and_scheduler_together_are_an_error(small_trace):
    with pytest.raises(ConfigError, match=r"jobs = 2 and scheduler = 'tcp://h:1'"):
        simulate_trace(small_trace, _config(), jobs=2, scheduler="tcp://h:1")


class _FakeClient:
    def __init__(self, versions: dict[str, str]) -> None:
        self.versions = versions

    def wait_for_workers(self, n_workers, timeout):
        if len(self.versions) < n_workers:
            raise TimeoutError(f"no worker within {timeout} s")

    def run(self, function):
        return self.versions


def test_workers_must_run_the_same_thrifty_version():
    from thrifty._version import __version__

    distributed._check_workers(_FakeClient({"tcp://w1": __version__}), "tcp://s:1", 1.0)
    with pytest.raises(SimulationError, match=r"workers \['tcp://w2'\] run thrifty \['0\.0\.0'\]"):
        distributed._check_workers(
            _FakeClient({"tcp://w1": __version__, "tcp://w2": "0.0.0"}), "tcp://s:1", 1.0
        )
    with pytest.raises(SimulationError, match=r"has no workers \(none joined within 1 s\)"):
        distributed._check_workers(_FakeClient({}), "tcp://s:1", 1.0)
