"""`run_quickstart`: the whole story, from data to `report.json` and `report.html`.

Data set → float32 reference → pruned, learned-integer-bits and learned-per-layer-float
variants (each from the reference) → for each variant: capture a training step's operands,
simulate them against bit-parallel bfloat16 units at iso-area, run the off-chip codec →
report.json (with the three claims judged) → report.html. A progress display (rich, on
stderr) names each stage as it runs.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from thrifty._io import write_json_atomic
from thrifty._process_state import preserved_process_state
from thrifty._provenance import provenance
from thrifty.errors import SimulationError
from thrifty.quickstart.assemble import build_variant
from thrifty.quickstart.budget import QuickstartBudget, budget_for
from thrifty.quickstart.claims import claim_line, with_claims
from thrifty.quickstart.dataset_choice import DatasetChoice, choose_dataset, describe
from thrifty.quickstart.schema import (
    VARIANT_LABELS,
    VARIANT_NAMES,
    DatasetInfo,
    HardwareInfo,
    QuickstartReport,
    dump_report,
)
from thrifty.quickstart.stages import (
    QUICKSTART_MODEL,
    QUICKSTART_SEED,
    QuickstartStages,
    TrainedVariant,
)
from thrifty.report.html import write_html_report

T = TypeVar("T")

STAGES_PER_VARIANT = 4
"""train, capture, simulate, codec."""


@dataclass(frozen=True)
class QuickstartResult:
    """What a quickstart run produced."""

    report: QuickstartReport
    report_json: Path
    report_html: Path
    seconds: float


class _Display:
    """Runs stages one after the other, showing each on a rich progress bar (or silently)."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self._progress = progress
        self._task = progress.add_task("starting", total=total) if progress else None

    def note(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text)

    def run(self, label: str, fn: Callable[..., T], *args: Any) -> T:
        if self._progress is not None:
            self._progress.update(self._task, description=label)
        result = fn(*args)
        if self._progress is not None:
            self._progress.advance(self._task)
        return result


@contextmanager
def _display(enabled: bool, total: int) -> Iterator[_Display]:
    if not enabled:
        yield _Display(None, total)
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with progress:
        yield _Display(progress, total)


def _dataset_info(choice: DatasetChoice, data: Any) -> DatasetInfo:
    own = getattr(data, "name", None)
    return DatasetInfo(
        name=choice.name if own is None else own,
        fell_back=choice.fell_back if own is None else False,
        reason=choice.reason if own is None else None,
        train_examples=data.train_examples,
        test_examples=data.test_examples,
        image_size=data.image_size,
        num_classes=data.num_classes,
    )


AREA_KEY = "area"
"""simulation.json's area section; its `ratio` is the iso-area PE ratio simulated."""


def _hardware_info(stated: dict[str, Any], simulations: list[dict[str, Any]]) -> HardwareInfo:
    """The stage's hardware description, with the area ratio the simulator really used."""
    ratios = {s[AREA_KEY]["ratio"] for s in simulations if AREA_KEY in s}
    if len(ratios) > 1:
        raise SimulationError(
            f"variants were simulated at different area ratios {sorted(ratios)}; "
            "simulate every variant with one hardware config"
        )
    if ratios:
        stated = {**stated, "area_ratio": float(ratios.pop())}
    return HardwareInfo(**stated)


def _model_name(stages: QuickstartStages, reference: TrainedVariant) -> str:
    """The quickstart's model name, or the class name of a model a replaced stage trained."""
    if stages.train_reference is QuickstartStages().train_reference:
        return QUICKSTART_MODEL
    return type(reference.model).__name__


def _run_config(budget: QuickstartBudget, choice: DatasetChoice) -> dict[str, Any]:
    return {
        "command": "quickstart",
        "budget": asdict(budget),
        "dataset": choice.name,
        "model": QUICKSTART_MODEL,
        "variants": list(VARIANT_NAMES),
    }


@preserved_process_state()
def run_quickstart(
    out_dir: str | Path,
    fast: bool = False,
    progress: bool = True,
    *,
    stages: QuickstartStages | None = None,
    dataset_root: str | Path | None = None,
    budget: QuickstartBudget | None = None,
) -> QuickstartResult:
    """Train the four variants, measure them on the simulated accelerator, write the report.

    Writes `out_dir/report.json` and `out_dir/report.html` (plus runs/, traces/ and
    simulation/ folders of the stages). `fast` uses the ≤ 2-minute budget instead of the
    ≤ 10-minute one; `progress` shows a progress display on stderr; `stages` replaces stage
    functions; `dataset_root` is the Fashion-MNIST folder (default: Debian's); `budget`
    replaces the budget `fast` picks (e.g. a seconds-long one for tests).
    """
    out_dir = Path(out_dir)
    stages = QuickstartStages() if stages is None else stages
    budget = budget_for(fast) if budget is None else budget
    choice = choose_dataset(None if dataset_root is None else Path(dataset_root))
    start = time.perf_counter()
    total_stages = 1 + len(VARIANT_NAMES) * STAGES_PER_VARIANT + 1
    with _display(progress, total_stages) as display:
        data = display.run("loading data", stages.load_data, choice, budget)
        own = getattr(data, "name", None)
        display.note(describe(choice) if own is None else f"data set: {own} (given)")
        reference = display.run(
            f"training {VARIANT_LABELS['float32']}",
            stages.train_reference,
            data,
            budget,
            out_dir / "runs" / "float32",
        )
        trained: list[TrainedVariant] = [reference]
        for name in VARIANT_NAMES[1:]:
            trained.append(
                display.run(
                    f"training {VARIANT_LABELS[name]}",
                    stages.train_variant,
                    name,
                    reference,
                    data,
                    budget,
                    out_dir / "runs" / name,
                )
            )
        measured = []
        for variant in trained:
            label = VARIANT_LABELS[variant.name]
            traces = display.run(
                f"capturing {label}",
                stages.capture,
                variant,
                data,
                budget,
                out_dir / "traces" / variant.name,
            )
            simulation = display.run(
                f"simulating {label}",
                stages.simulate,
                traces,
                budget,
                out_dir / "simulation" / f"{variant.name}.json",
            )
            codec_entries = display.run(f"codec on {label}", stages.codec, traces)
            measured.append((variant, simulation, codec_entries))
        hardware = _hardware_info(stages.hardware(), [m[1] for m in measured])
        variants = [
            build_variant(
                variant.name,
                variant.accuracy,
                variant.train_seconds,
                variant.layers,
                simulation,
                codec_entries,
                hardware.sync_policies,
                hardware.area_ratio,
                variant.bits_kind,
            )
            for variant, simulation, codec_entries in measured
        ]
        report = with_claims(
            QuickstartReport(
                provenance=provenance(_run_config(budget, choice), QUICKSTART_SEED),
                fast=fast,
                model=_model_name(stages, reference),
                dataset=_dataset_info(choice, data),
                hardware=hardware,
                variants=variants,
                seconds=time.perf_counter() - start,
            )
        )
        report_json = out_dir / "report.json"
        write_json_atomic(report_json, dump_report(report))
        report_html = display.run(
            "writing report.html", write_html_report, report, out_dir / "report.html"
        )
        for claim in report.claims:
            display.note(claim_line(claim))
    seconds = time.perf_counter() - start
    if seconds > budget.wall_seconds:
        warnings.warn(
            f"quickstart ({budget.name}) took {seconds:.0f} s, over its {budget.wall_seconds:.0f}"
            " s budget; the machine may be busy, or the budgets in "
            "thrifty/quickstart/budget.py need to shrink",
            RuntimeWarning,
            stacklevel=2,
        )
    return QuickstartResult(report, report_json, report_html, seconds)


__all__ = ["QuickstartResult", "run_quickstart"]
