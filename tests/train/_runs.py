"""Helpers shared by the training tests: tiny configs and running the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]

#: A run that takes about a second: digits, the small CNN, every phase.
TINY = {
    "seed": 1,
    "device": "cpu",
    "data": {"name": "digits", "train_subset": 256, "test_subset": 100, "batch_size": 32},
    "optimizer": {"name": "adam", "lr": 0.003, "bits_lr": 0.5},
    "regularizer": {"criterion": "bits", "strength": 0.5},
    "phases": {"float": {"epochs": 2}, "learn": {"epochs": 2}, "finetune": {"epochs": 1}},
}


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def cli_env() -> dict[str, str]:
    """One torch thread (as in-process tests), the worktree's thrifty first on the path."""
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "thrifty.cli", *args],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "thrifty.cli", *args],
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
