"""Reports of training runs: the per-layer table and PNG plots, drawn from a run's JSON files.

`report_runs(["runs/a"])` writes `layer_bits.png` and `training.png` into each run folder and,
for several runs, `accuracy_vs_bits.png` into `out`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from thrifty.report.plots import plot_accuracy_vs_bits, plot_layer_bits, plot_training
from thrifty.report.runs import Run, load_run
from thrifty.report.tables import layer_table

#: File names of the plots a report writes.
LAYER_BITS_PNG = "layer_bits.png"
TRAINING_PNG = "training.png"
COMPARISON_PNG = "accuracy_vs_bits.png"


def report_runs(paths: Sequence[str | Path], out: str | Path | None = None) -> list[Path]:
    """Write the plots of each run (into its folder) and, for several runs, the comparison.

    `out` is where the comparison goes (default: the current folder); returns written paths.
    """
    runs = [load_run(path) for path in paths]
    written: list[Path] = []
    for run in runs:
        if run.summary.get("layers"):
            written.append(plot_layer_bits(run, run.path / LAYER_BITS_PNG))
        if run.metrics:
            written.append(plot_training(run, run.path / TRAINING_PNG))
    if len(runs) > 1:
        folder = Path(out) if out is not None else Path.cwd()
        written.append(plot_accuracy_vs_bits(runs, folder / COMPARISON_PNG))
    return written


__all__ = [
    "Run",
    "layer_table",
    "load_run",
    "plot_accuracy_vs_bits",
    "plot_layer_bits",
    "plot_training",
    "report_runs",
]
