"""How a training run reports progress: a silent default, and a rich console version for the CLI.

Library code calls a `Reporter`; only the CLI chooses to show anything, so training from Python
stays quiet unless the caller passes `ConsoleReporter()`.
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


def format_record(record: dict[str, Any]) -> str:
    """The one-line epoch summary: phase, epoch, loss, accuracies, bits, λ and cost."""
    parts = [
        f"{record['phase']:<8} epoch {record['epoch']}/{record['epochs']}",
        f"loss {record['train_loss']:.4f}",
        f"train acc {100 * record['train_accuracy']:.2f}%",
    ]
    if record.get("val_accuracy") is not None:
        parts.append(f"val acc {100 * record['val_accuracy']:.2f}%")
    if record.get("mean_bits") is not None:
        parts.append(f"mean bits {record['mean_bits']:.3f}")
    if record.get("lambda") is not None:
        parts.append(f"λ {record['lambda']:.4g}")
    if record.get("cost") is not None:
        parts.append(f"cost {record['cost']:.4g}")
    parts.append(f"{record['seconds']:.1f}s")
    return " | ".join(parts)


class ConsoleReporter(Reporter):
    """A rich progress bar per epoch and a one-line summary per epoch, on stderr."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self._progress: Any = None
        self._task: Any = None

    def message(self, text: str) -> None:
        self.console.print(f"[yellow]{text}[/yellow]")

    def epoch_start(self, phase: str, epoch: int, epochs: int, steps: int, start_step: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn(f"{phase} {epoch}/{epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("train", total=steps, completed=start_step, loss=0.0)

    def step(self, loss: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, loss=loss)

    def epoch_end(self, record: dict[str, Any]) -> None:
        self.close()
        self.console.print(format_record(record))

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
