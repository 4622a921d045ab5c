"""How a training run reports progress: the events, and a silent default.

Library code calls a `Reporter`; only the CLI shows anything (`thrifty.cli.progress`
`ConsoleReporter`), so training from Python stays quiet unless the caller passes a reporter.
"""

from __future__ import annotations

from typing import Any


class Reporter:
    """Receives progress events from a training run; this base class ignores them all."""

    def message(self, text: str) -> None:
        """A note for the user (e.g. a data set fallback)."""

    def epoch_start(self, phase: str, epoch: int, epochs: int, steps: int, start_step: int) -> None:
        """An epoch begins (`epoch` counts from 1 within its phase)."""

    def step(self, loss: float) -> None:
        """One training step finished with this task loss."""

    def epoch_end(self, record: dict[str, Any]) -> None:
        """An epoch finished; `record` is the line written to metrics.jsonl."""

    def close(self) -> None:
        """The run ended (normally or not)."""
