"""The console side of a training run's progress: a rich bar per epoch and one line per epoch."""

from __future__ import annotations

from typing import Any

from thrifty.train.progress import Reporter


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
