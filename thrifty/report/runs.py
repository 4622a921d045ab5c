"""Reading a finished run folder: its summary.json and metrics.jsonl."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thrifty.errors import CheckpointError


@dataclass(frozen=True)
class Run:
    """A run folder's results: the summary (per-layer records, means) and per-epoch metrics."""

    path: Path
    summary: dict[str, Any]
    metrics: list[dict[str, Any]]

    @property
    def name(self) -> str:
        return self.path.name


def load_run(path: str | Path) -> Run:
    """Read `path/summary.json` and `path/metrics.jsonl` (CheckpointError if not a finished run)."""
    path = Path(path)
    summary_path = path / "summary.json"
    if not summary_path.is_file():
        raise CheckpointError(
            f"{str(path)!r} is not a finished run folder: it has no summary.json; pass the "
            "folder `thrifty train` wrote (its --out), after the run has ended"
        )
    try:
        summary = json.loads(summary_path.read_text())
        metrics_path = path / "metrics.jsonl"
        lines = metrics_path.read_text().splitlines() if metrics_path.is_file() else []
        metrics = [json.loads(line) for line in lines if line.strip()]
    except json.JSONDecodeError as error:
        raise CheckpointError(f"run folder {str(path)!r} holds malformed JSON: {error}") from None
    return Run(path=path, summary=summary, metrics=metrics)
