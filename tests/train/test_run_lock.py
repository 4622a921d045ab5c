"""A run folder belongs to one process: a second run is refused naming the holder, and the lock
of a run killed with SIGKILL is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.train._runs import REPO, TINY, cli, popen, write_config
from thrifty.errors import CheckpointError
from thrifty.train import Reporter, TrainConfig, train
from thrifty.train.run_lock import LOCK_FILE, RunLock

_HOLD_LOCK = """
import sys, time
from thrifty.train.run_lock import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(120)
"""


class _Messages(Reporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


def _holder_process(folder: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(folder)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "locked"
    return process


def test_second_run_is_refused_and_a_killed_holder_is_taken_over(tmp_path: Path) -> None:
    run = tmp_path / "run"
    holder = _holder_process(run)
    config = TrainConfig.model_validate({**TINY, "out": str(run)})
    try:
        with pytest.raises(CheckpointError, match=rf"in use by process {holder.pid} .*run\.lock"):
            train(config)
        assert sorted(p.name for p in run.iterdir()) == [LOCK_FILE]  # nothing written
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert holder.returncode == -signal.SIGKILL
    assert (run / LOCK_FILE).read_text().strip() == str(holder.pid)  # the stale lock remains
    reporter = _Messages()
    train(config, reporter=reporter)
    assert (run / "summary.json").is_file()
    assert any(f"from process {holder.pid}, which no longer runs" in m for m in reporter.lines)
    assert (run / LOCK_FILE).read_text() == ""  # released: no holder named


def test_two_cli_runs_into_one_folder_the_second_fails_naming_the_first(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.yaml", {**TINY, "phases": {"float": {"epochs": 30}}}
    )  # long enough to still run when the second one starts
    run = tmp_path / "run"
    first = popen("train", str(config), "--out", str(run))
    try:
        lock = run / LOCK_FILE
        # No deadline of its own (pytest-timeout bounds the test): start-up may take minutes
        # on a loaded machine.
        while first.poll() is None and not (lock.is_file() and lock.read_text().strip()):
            time.sleep(0.01)
        assert first.poll() is None, first.stderr.read().decode()
        second = cli("train", str(config), "--out", str(run))
        assert first.poll() is None  # the first run was not disturbed
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2
    assert f"is in use by process {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr


def test_lock_refuses_a_second_holder_and_is_free_after_release(tmp_path: Path) -> None:
    with RunLock(tmp_path) as lock:
        assert lock.previous_holder is None
        assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
        with pytest.raises(CheckpointError, match="in use by process"):
            RunLock(tmp_path).acquire()  # a second descriptor, even in this process
    with RunLock(tmp_path) as again:
        assert again.previous_holder is None
