"""Library entry points leave process-wide state as they found it.

numba's parallel kernels start an OpenMP pool that resets the process's OpenMP thread count,
which torch shares; training seeds the global generators and silences warnings. After the
simulator, the quickstart and training, the thread counts of torch and numba, the random states
of torch, numpy and Python, and `warnings.filters` must be what the caller had set.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numba
import numpy as np
import pytest
import torch

from tests.hw._sim_helpers import FASHION, capture_small_cnn_step
from tests.train._runs import REPO, TINY
from thrifty._process_state import ProcessState, preserved_process_state
from thrifty.quickstart import run_quickstart
from thrifty.quickstart.budget import FAST_BUDGET
from thrifty.train import TrainConfig, train

TINY_BUDGET = dataclasses.replace(
    FAST_BUDGET,
    name="tiny",
    train_examples=128,
    test_examples=64,
    batch_size=32,
    trace_batch_size=4,
    sim_sample_fraction=0.05,
)


@pytest.fixture
def user_state() -> Iterator[ProcessState]:
    """A caller's settings that differ from the defaults: 1 torch thread, odd seeds, one extra
    warnings filter."""
    before = ProcessState.capture()
    with warnings.catch_warnings():
        torch.set_num_threads(1)
        torch.manual_seed(1234)
        np.random.seed(5678)
        random.seed(91011)
        warnings.filterwarnings("error", message="a filter only this test sets")
        yield ProcessState.capture()
    before.restore()


#: Run in a fresh process: numba's OpenMP pool resets the thread count when it first starts,
#: which an earlier test of this process may already have done.
_FRESH_PROCESS_SIMULATION = """
import json, random, sys, warnings
import numpy as np, torch
from thrifty._process_state import ProcessState
from thrifty.hw.config import load_hardware_config
from thrifty.hw.pe.run import run_pe
from thrifty.hw.sim.simulation import simulate_trace
torch.set_num_threads(1)
torch.manual_seed(1234); np.random.seed(5678); random.seed(91011)
warnings.filterwarnings("error", message="a filter only this test sets")
before = ProcessState.capture()
run_pe(torch.randn(300, 16, generator=torch.Generator().manual_seed(0)), torch.ones(300, 16))
after_pe = before.differences(ProcessState.capture())
config = load_hardware_config("default")
sampling = config.sampling.model_copy(update={"fraction": 0.05})
config = config.model_copy(update={"sampling": sampling})
simulate_trace(sys.argv[1], config)
print(json.dumps({"run_pe": after_pe, "simulate_trace": before.differences(ProcessState.capture()),
                  "torch_threads": torch.get_num_threads()}))
"""


def test_simulator_keeps_process_state_in_a_fresh_process(tmp_path: Path) -> None:
    if not FASHION.is_dir():
        pytest.skip("Fashion-MNIST IDX files are not installed")
    trace = capture_small_cnn_step(tmp_path / "trace", batch=2)
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS_SIMULATION, str(trace)],
        env={**os.environ, "PYTHONPATH": str(REPO), "NUMBA_NUM_THREADS": "2"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result == {"run_pe": [], "simulate_trace": [], "torch_threads": 1}


def test_quickstart_keeps_process_state(user_state: ProcessState, tmp_path: Path) -> None:
    run_quickstart(tmp_path, progress=False, dataset_root=tmp_path / "none", budget=TINY_BUDGET)
    assert user_state.differences(ProcessState.capture()) == []


def test_train_keeps_process_state(user_state: ProcessState, tmp_path: Path) -> None:
    train(TrainConfig.model_validate({**TINY, "out": str(tmp_path / "run")}))
    assert user_state.differences(ProcessState.capture()) == []


def test_preserved_process_state_restores_what_the_body_changed() -> None:
    before = ProcessState.capture()
    with preserved_process_state():
        torch.set_num_threads(torch.get_num_threads() + 1)
        numba.set_num_threads(1)
        torch.manual_seed(7)
        np.random.seed(7)
        random.seed(7)
        warnings.simplefilter("ignore")
        assert len(before.differences(ProcessState.capture())) == 6
    assert before.differences(ProcessState.capture()) == []
