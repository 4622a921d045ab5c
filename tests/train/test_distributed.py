"""Two CPU processes (gloo DDP) train one model: every rank ends with the same state."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from tests.train._runs import TINY, write_config
from thrifty.cli import app


def test_two_process_ddp_keeps_ranks_identical(tmp_path: Path) -> None:
    run = tmp_path / "run"
    data = {
        **TINY,
        "data": {**TINY["data"], "train_subset": 128},
        "phases": {"float": {"epochs": 1}, "learn": {"epochs": 1}, "finetune": {"epochs": 1}},
        "distributed": {"save_rank_states": True},
    }
    # In-process CLI: `--nproc 2` spawns the two ranks as fresh processes.
    result = CliRunner().invoke(
        app,
        ["train", str(write_config(tmp_path / "c.yaml", data)), "--out", str(run), "--nproc", "2"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_identical"] is True
    rank0 = torch.load(run / "ranks" / "rank0.pt")
    rank1 = torch.load(run / "ranks" / "rank1.pt")
    assert rank0.keys() == rank1.keys()
    for key in rank0:  # bitlengths, activation ranges, weights, batch-norm statistics
        torch.testing.assert_close(rank0[key], rank1[key], atol=0, rtol=0)
    # Each rank saw half of each epoch: 128 samples / 2 ranks / 32 per batch = 2 steps.
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in records] == ["float", "learn", "finetune"]
