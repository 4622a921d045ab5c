"""PNG plots of a simulation report (the `simulation.json` dict), generated from the JSON only.

- `speedup.png`: speedup over the iso-area bit-parallel baseline per layer and operation, one
  bar per sync policy.
- `terms.png`: per layer and operation, the serial operand's term slots split into zero,
  out-of-bounds and processed terms (fractions, stacked).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from thrifty._io import atomic_path
from thrifty.hw.config import SYNC_POLICIES as POLICIES
from thrifty.hw.sim.results import TERM_CLASSES as TERM_PARTS


def _labels(records: list[Mapping[str, Any]]) -> list[str]:
    short = {"forward": "fwd", "backward_data": "bwd-d", "backward_weight": "bwd-w"}
    epochs = {r.get("epoch") for r in records if r.get("epoch") is not None}
    labels = []
    for r in records:
        label = f"{r['layer']}\n{short.get(r['op'], r['op'])}"
        if len(epochs) > 1 and r.get("epoch") is not None:
            label += f"\ne{r['epoch']}"
        labels.append(label)
    return labels


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def plot_speedup(report: Mapping[str, Any], path: str | Path) -> Path:
    """Bar chart of speedup per layer × operation and sync policy, the total last."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    records = [*report["layers"], report["total"]]
    x = np.arange(len(records))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(records)), 4.0))
    width = 0.8 / len(POLICIES)
    for i, policy in enumerate(POLICIES):
        ax.bar(x + (i - 1) * width, [r["speedup"][policy] for r in records], width, label=policy)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(x, _labels(records), fontsize=7)
    ax.set_ylabel("speedup over bit-parallel (×)")
    ax.set_title(f"{report['config']['name']}: term-serial vs bit-parallel at iso compute area")
    ax.legend(title="sync policy")
    path = _save(fig, Path(path))
    plt.close(fig)
    return path


def plot_terms(report: Mapping[str, Any], path: str | Path) -> Path:
    """Stacked fractions of zero, out-of-bounds and processed term slots per layer × operation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    records = [*report["layers"], report["total"]]
    x = np.arange(len(records))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(records)), 4.0))
    bottom = np.zeros(len(records))
    for part in TERM_PARTS:
        share = np.array([r["terms"][part] / max(r["terms"]["total"], 1.0) for r in records])
        ax.bar(x, share, 0.7, bottom=bottom, label=part.replace("_", "-"))
        bottom += share
    ax.set_xticks(x, _labels(records), fontsize=7)
    ax.set_ylabel("share of bit-serial term slots")
    ax.set_ylim(0, 1)
    ax.legend()
    path = _save(fig, Path(path))
    plt.close(fig)
    return path


def write_simulation_plots(report: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
    """Both plots into `out_dir`; returns their paths."""
    out = Path(out_dir)
    return [plot_speedup(report, out / "speedup.png"), plot_terms(report, out / "terms.png")]


__all__ = ["plot_speedup", "plot_terms", "write_simulation_plots"]
