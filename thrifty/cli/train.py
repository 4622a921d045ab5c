"""`thrifty train` and `thrifty report`: parse the command line, call the library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def _rank_main(config_data: dict[str, Any], resume: bool) -> None:
    """What each spawned process runs: the recipe, with progress shown by rank 0 only."""
    from thrifty.cli.progress import ConsoleReporter
    from thrifty.train.config import TrainConfig
    from thrifty.train.distributed import env_from_environment
    from thrifty.train.progress import Reporter
    from thrifty.train.recipe import train

    env = env_from_environment()
    reporter = ConsoleReporter() if env.is_main else Reporter()
    train(TrainConfig.model_validate(config_data), resume=resume, reporter=reporter, env=env)


def train_command(
    config: Annotated[Path, typer.Argument(help="YAML training config (docs/training.md).")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config value: key.sub=value (repeatable)."),
    ] = None,
    out: Annotated[str | None, typer.Option(help="Run folder (overrides `out:`).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint.")] = False,
    nproc: Annotated[
        int, typer.Option(min=1, help="Processes for data-parallel training on this machine.")
    ] = 1,
) -> None:
    """Train a model with the two-phase recipe: float, learn bitlengths, freeze + fine-tune."""
    from rich.console import Console

    from thrifty._config import is_empty_config
    from thrifty.cli.progress import ConsoleReporter
    from thrifty.report import layer_table
    from thrifty.train.config import load_train_config
    from thrifty.train.distributed import env_from_environment, spawn
    from thrifty.train.progress import Reporter
    from thrifty.train.recipe import SUMMARY_FILE, train

    train_config = load_train_config(config, set_ or [], out)  # every section validated here
    if is_empty_config(config):
        typer.echo(f"note: config {str(config)!r} is empty: the defaults are used", err=True)
    Console(stderr=True).print(f"run folder: {train_config.out}")
    if nproc > 1:
        spawn(_rank_main, (train_config.model_dump(mode="json"), resume), nproc)
        summary = json.loads((Path(train_config.out) / SUMMARY_FILE).read_text())
    else:
        # Under torchrun every process runs this command; rank 0 alone reports.
        is_main = env_from_environment().is_main
        reporter = ConsoleReporter() if is_main else Reporter()
        summary = train(train_config, resume=resume, reporter=reporter)
        if not is_main:
            return
    Console().print(layer_table(summary, title=f"run {train_config.out}"))


def report_command(
    runs: Annotated[list[Path], typer.Argument(help="One or more run folders.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the comparison plot of several runs (default: here)."),
    ] = None,
) -> None:
    """Print each run's per-layer table and write its PNG plots (and a comparison).

    A run simulated with `thrifty simulate --inference RUN` (default output folder) also
    gets its integer inference tables.
    """
    from rich.console import Console

    from thrifty.report import layer_table, load_run, report_runs
    from thrifty.report.inference_table import inference_energy_table, inference_table

    console = Console()
    for path in runs:
        console.print(layer_table(load_run(path).summary, title=f"run {path}"))
        inference = path / "inference" / "inference.json"
        if inference.is_file():
            report = json.loads(inference.read_text())
            console.print(inference_table(report))
            console.print(inference_energy_table(report))
    for written in report_runs(runs, out):
        console.print(f"wrote {written}")


def register(app: typer.Typer) -> None:
    """Add `train` and `report` to the thrifty command."""
    app.command("train")(train_command)
    app.command("report")(report_command)
