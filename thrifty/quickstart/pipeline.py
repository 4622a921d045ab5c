"""`run_quickstart`: the whole story, from data to `report.json` and `report.html`.

Data set → float32 reference → pruned, learned-integer-bits and learned-per-layer-float
variants (each from the reference), each trained by `thrifty.train.train` → for each variant:
capture a training step's operands, simulate them (`thrifty.hw.simulate_trace`) against
both bit-parallel bfloat16 baselines at iso-area, run the off-chip codec → the float32
reference again with each out-of-bounds window of the PE, and each window's numeric cost
against float64 → integer inference of the learned-integer-bits model on a few test images
(`thrifty.hw.simulate_inference`) → report.json (built from the typed results, with the claims
judged) → report.html (rendered from report.json).
A progress display (rich, on stderr) names each stage as it runs.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from thrifty._config import with_overrides
from thrifty._io import write_json_atomic
from thrifty._process_state import preserved_process_state
from thrifty._provenance import provenance
from thrifty.data import DataSplits
from thrifty.errors import ConfigError, SimulationError
from thrifty.hw.config import SYNC_POLICIES
from thrifty.hw.sim.simulation import Simulation
from thrifty.quickstart.assemble import (
    baseline_areas,
    build_variant,
    inference_result,
    window_result,
)
from thrifty.quickstart.budget import QuickstartBudget, budget_for
from thrifty.quickstart.claims import claim_line, with_claims
from thrifty.quickstart.dataset_choice import DatasetChoice, choose_dataset, describe
from thrifty.quickstart.stages import (
    HARDWARE_PRESET,
    INFERENCE_VARIANT,
    QUICKSTART_MODEL,
    QUICKSTART_SEED,
    WINDOWS,
    QuickstartStages,
    TrainedVariant,
    data_config,
    hardware_config,
    read_data,
    trace_batch,
    variant_config,
    window_config,
)
from thrifty.report.html import write_html_report
from thrifty.report.schema import (
    BASELINE_LABELS,
    VARIANT_LABELS,
    VARIANT_NAMES,
    DatasetInfo,
    HardwareInfo,
    QuickstartReport,
    dump_report,
)

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


def _dataset_info(choice: DatasetChoice, data: DataSplits, given: bool) -> DatasetInfo:
    """What the report says about the data: the quickstart's choice, or data a replaced
    `load_data` stage gave (named by its splits)."""
    return DatasetInfo(
        name=data.name if given else choice.name,
        fell_back=False if given else choice.fell_back,
        reason=None if given else choice.reason,
        train_examples=len(data.train),
        test_examples=len(data.test),
        image_size=data.image_size,
        num_classes=data.num_classes,
    )


def _hardware_info(simulations: list[Simulation]) -> HardwareInfo:
    """The hardware every variant ran on, with the area ratio the simulator really used."""
    ratios = sorted({s.area.ratio for s in simulations})
    config = simulations[0].config
    if len(ratios) > 1 or any(s.config != config for s in simulations):
        raise SimulationError(
            f"variants were simulated at area ratios {ratios} or with different hardware "
            "configs; simulate every variant with one hardware config"
        )
    return HardwareInfo(
        baseline=BASELINE_LABELS[config.baseline],
        area_ratio=float(ratios[0]),
        sync_policies=list(SYNC_POLICIES),
        headline_baseline=config.baseline,
        areas=baseline_areas(simulations[0]),
        preset=HARDWARE_PRESET,
        config=config,
    )


def _run_config(budget: QuickstartBudget, choice: DatasetChoice, model: str) -> dict[str, Any]:
    return {
        "command": "quickstart",
        "budget": asdict(budget),
        "dataset": choice.name,
        "model": model,
        "variants": list(VARIANT_NAMES),
    }


OVERRIDE_SECTIONS = ("train", "hardware")
"""What a quickstart `--set` override starts with: the config it changes."""


def split_overrides(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """`train.…` and `hardware.…` overrides, each without its prefix."""
    parts: dict[str, list[str]] = {name: [] for name in OVERRIDE_SECTIONS}
    for text in overrides:
        section, _, rest = text.partition(".")
        if section not in parts or not rest:
            raise ConfigError(
                f"--set {text!r} must start with one of {list(OVERRIDE_SECTIONS)} (the config it "
                "changes), e.g. hardware.pe.lanes=16 or train.optimizer.lr=0.01"
            )
        parts[section].append(rest)
    return parts["train"], parts["hardware"]


def model_is_ours(stages: QuickstartStages) -> bool:
    """True when the model is the quickstart's own (its `build_model` stage not replaced)."""
    return stages.build_model is QuickstartStages().build_model


@preserved_process_state()
def run_quickstart(
    out_dir: str | Path,
    fast: bool = False,
    progress: bool = True,
    *,
    stages: QuickstartStages | None = None,
    dataset_root: str | Path | None = None,
    budget: QuickstartBudget | None = None,
    overrides: Sequence[str] = (),
) -> QuickstartResult:
    """Train the four variants, measure them on the simulated accelerator, write the report.

    Writes `out_dir/report.json` and `out_dir/report.html` (plus the runs/, traces/ and
    simulation/ folders of the stages). `fast` uses the ≤ 2-minute budget instead of the
    ≤ 10-minute one; `progress` shows a progress display on stderr; `stages` replaces stage
    functions (e.g. `load_data` and `build_model` for your own data and model);
    `dataset_root` is the Fashion-MNIST folder (default: Debian's); `budget` replaces the
    budget `fast` picks (e.g. a seconds-long one for tests); `overrides` are
    `train.key.sub=value` (every variant's TrainConfig) and `hardware.key.sub=value` (the
    HardwareConfig, e.g. `hardware.pe.lanes=16`).
    """
    out_dir = Path(out_dir)
    train_overrides, hardware_overrides = split_overrides(overrides)
    stages = QuickstartStages() if stages is None else stages
    budget = budget_for(fast) if budget is None else budget
    choice = choose_dataset(None if dataset_root is None else Path(dataset_root))
    given = stages.load_data is not read_data
    start = time.perf_counter()
    # data, the variants' stages, the windows' simulations and costs, inference, the page
    total_stages = 1 + len(VARIANT_NAMES) * STAGES_PER_VARIANT + 2 * len(WINDOWS) - 1 + 1 + 1
    with _display(progress, total_stages) as display:
        data = display.run("loading data", stages.load_data, choice, budget)
        display.note(f"data set: {data.name} (given)" if given else describe(choice))
        model = stages.build_model(data)
        model_name = QUICKSTART_MODEL if model_is_ours(stages) else type(model).__name__
        section = data_config(choice, budget)
        trained: list[TrainedVariant] = []
        for name in VARIANT_NAMES:
            config = variant_config(
                name, budget, data, section, out_dir / "runs" / name, train_overrides
            )
            start_from = model if name == "float32" else copy.deepcopy(trained[0].model)
            trained.append(
                display.run(
                    f"training {VARIANT_LABELS[name]}", stages.train, name, config, data, start_from
                )
            )
        batch = trace_batch(data, budget)
        hardware = with_overrides(hardware_config(budget), hardware_overrides)
        measured = []
        for variant in trained:
            label = VARIANT_LABELS[variant.name]
            traces = display.run(
                f"capturing {label}",
                stages.capture,
                variant.model,
                batch,
                budget,
                out_dir / "traces" / variant.name,
            )
            simulation = display.run(
                f"simulating {label}",
                stages.simulate,
                traces,
                hardware,
                out_dir / "simulation" / variant.name,
            )
            codec = display.run(f"codec on {label}", stages.codec, traces)
            measured.append((variant, simulation, codec))
            if variant is trained[0]:
                reference_traces = traces
        hardware_info = _hardware_info([m[1] for m in measured])
        windows = []
        for window in WINDOWS:
            config = window_config(hardware, window)
            simulation = measured[0][1]
            if config != hardware:
                simulation = display.run(
                    f"simulating {VARIANT_LABELS[trained[0].name]}, {window} window",
                    stages.simulate,
                    reference_traces,
                    config,
                    out_dir / "simulation" / f"{trained[0].name}-{window}-window",
                )
            cost = display.run(
                f"numeric cost, {window} window", stages.numeric_cost, reference_traces, config
            )
            windows.append(window_result(simulation, cost, hardware_info.sync_policies))
        integer = next(v for v in trained if v.name == INFERENCE_VARIANT)
        inference = display.run(
            f"integer inference of {VARIANT_LABELS[integer.name]}",
            stages.inference,
            integer.model,
            data,
            hardware,
            out_dir / "inference",
        )
        variants = [
            build_variant(
                variant.name,
                variant.accuracy,
                variant.train_seconds,
                variant.layers,
                simulation,
                codec,
                hardware_info.sync_policies,
                variant.config,
                variant.bits_kind,
            )
            for variant, simulation, codec in measured
        ]
        report = with_claims(
            QuickstartReport(
                provenance=provenance(_run_config(budget, choice, model_name), QUICKSTART_SEED),
                fast=fast,
                model=model_name,
                dataset=_dataset_info(choice, data, given),
                hardware=hardware_info,
                variants=variants,
                windows=windows,
                seconds=time.perf_counter() - start,
                inference=inference_result(inference, INFERENCE_VARIANT),
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
