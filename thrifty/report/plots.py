"""PNG plots of runs, drawn from their JSON results: per-layer bits, training curves, and
accuracy against mean bits for several runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from thrifty._io import atomic_path
from thrifty.report.runs import Run

#: Resolution of the PNG files, dots per inch.
PLOT_DPI = 110


def _mean(value: Any) -> float:
    if isinstance(value, list):
        return sum(value) / len(value) if value else float("nan")
    return float("nan") if value is None else float(value)


def _subplots(figsize: tuple[float, float]) -> tuple[Any, Any]:
    """A figure with one axes, outside pyplot (no global backend, nothing to close).

    matplotlib is imported here, on the first plot: importing it takes about 0.4 s, which
    commands that only print tables (`thrifty simulate --no-plots`) need not pay.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    return figure, figure.subplots()


def _save(figure: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=PLOT_DPI, bbox_inches="tight")
    return path


def plot_layer_bits(run: Run, path: str | Path) -> Path:
    """Grouped bars: weight and activation bits of every layer (per-channel bits averaged)."""
    layers = run.summary.get("layers") or []
    names = [layer.get("name", str(i)) for i, layer in enumerate(layers)]
    weight = [_mean(layer.get("weight_bits")) for layer in layers]
    activation = [_mean(layer.get("activation_bits")) for layer in layers]
    figure, axes = _subplots((max(4.0, 0.6 * len(names) + 2), 3.5))
    positions = range(len(names))
    axes.bar([p - 0.2 for p in positions], weight, width=0.4, label="weights")
    axes.bar([p + 0.2 for p in positions], activation, width=0.4, label="activations")
    axes.set_xticks(list(positions), names, rotation=45, ha="right")
    axes.set_ylabel("bits")
    axes.set_title(f"{run.name}: learned bitlength per layer")
    axes.legend()
    return _save(figure, Path(path))


def plot_training(run: Run, path: str | Path) -> Path:
    """Validation accuracy and mean bits over the epochs of all phases."""
    metrics = run.metrics
    epochs = [m["global_epoch"] for m in metrics]
    figure, accuracy_axes = _subplots((6, 3.5))
    accuracy = [100 * (m.get("val_accuracy") or float("nan")) for m in metrics]
    accuracy_axes.plot(epochs, accuracy, "o-", color="tab:blue", label="val accuracy")
    accuracy_axes.set_xlabel("epoch")
    accuracy_axes.set_ylabel("validation accuracy (%)", color="tab:blue")
    bits_axes = accuracy_axes.twinx()
    bits = [m.get("mean_bits") for m in metrics]
    bits_axes.plot(epochs, [float("nan") if b is None else b for b in bits], "s-", color="tab:red")
    bits_axes.set_ylabel("mean bits", color="tab:red")
    for start in _phase_starts(metrics):
        accuracy_axes.axvline(start - 0.5, color="grey", linestyle=":")
    accuracy_axes.set_title(f"{run.name}: accuracy and bits over training")
    return _save(figure, Path(path))


def _phase_starts(metrics: Sequence[dict[str, Any]]) -> list[int]:
    return [
        m["global_epoch"]
        for i, m in enumerate(metrics)
        if i > 0 and m["phase"] != metrics[i - 1]["phase"]
    ]


def plot_accuracy_vs_bits(runs: Sequence[Run], path: str | Path) -> Path:
    """One point per run: final test accuracy against mean bits (float runs drawn at 32)."""
    figure, axes = _subplots((5, 3.5))
    for run in runs:
        bits = run.summary.get("mean_bits")
        bits = 32.0 if bits is None else float(bits)
        accuracy = 100 * float(run.summary.get("final_accuracy") or float("nan"))
        axes.scatter([bits], [accuracy])
        axes.annotate(run.name, (bits, accuracy), textcoords="offset points", xytext=(4, 4))
    axes.set_xlabel("mean bits per layer")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title("accuracy against mean bits")
    return _save(figure, Path(path))
