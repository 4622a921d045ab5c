"""Synthesize the PE designs of one or more configurations; results in the shipped format.

`synthesize(configs)` generates each design's RTLIL with Amaranth, runs Yosys on it (two at a
time: each Yosys run is single-threaded) and returns the synthesis results file as a dict:

    {"schema_version": 1, "thrifty_version", "yosys_version",
     "liberty": {"name", "file", "sha256"},
     "pe_configs": [the PEConfig of each synthesized configuration],
     "designs": [{"design", "params", "area_um2", "cells", "transistors", "logic_depth",
                  "lanes"}, ...]}

The package ships this file for the presets (`thrifty/hw/cost/data/synthesized_area.json`), so
the simulator needs no Yosys; `thrifty hw synth --out DIR` writes one for any configuration and
cell library.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

from amaranth.back import rtlil

from thrifty._io import write_text_atomic
from thrifty._version import __version__
from thrifty.hw.config import load_hardware_config, preset_names
from thrifty.hw.pe.config import PEConfig
from thrifty.hw.synth.designs import DesignSpec, designs_for
from thrifty.hw.synth.yosys import (
    SynthesisFigures,
    check_liberty,
    run_yosys,
    yosys_executable,
    yosys_version,
)

SCHEMA_VERSION = 1
RESULTS_FILE = "synthesized_area.json"
DEFAULT_LIBERTY = "nangate45_x1.lib"


def default_liberty() -> Path:
    """The shipped Liberty file (Nangate 45 nm Open Cell Library X1 cell areas)."""
    return Path(str(resources.files("thrifty.hw.synth") / "data" / DEFAULT_LIBERTY))


def liberty_info(liberty: Path, shown_as: str) -> dict[str, str]:
    """Library name (from its `library(...)` group), file as shown, sha256 of its bytes."""
    data = liberty.read_bytes()
    match = re.search(rb"library\s*\(\s*\"?([^)\"\s]+)", data)
    name = match.group(1).decode() if match else liberty.stem
    return {"name": name, "file": shown_as, "sha256": hashlib.sha256(data).hexdigest()}


def _key(spec: DesignSpec) -> str:
    return json.dumps([spec.design, spec.params], sort_keys=True)


def _synthesize_one(spec: DesignSpec, liberty: Path, workdir: Path) -> SynthesisFigures:
    design, ports = spec.build()
    folder = workdir / spec.design / "_".join(f"{k}-{v}" for k, v in sorted(spec.params.items()))
    folder.mkdir(parents=True, exist_ok=True)
    il = folder / "design.il"
    il.write_text(rtlil.convert(design, ports=ports, name="top"))
    return run_yosys(il, liberty, folder)


def synthesize(
    configs: Sequence[PEConfig],
    liberty: Path | None = None,
    workdir: Path | None = None,
    jobs: int = 2,
) -> dict[str, Any]:
    """Synthesis results of every design of `configs` (each distinct design once)."""
    specs: dict[str, DesignSpec] = {}
    for config in configs:
        for spec in designs_for(config):  # ConfigError first: no Yosys needed to learn that
            specs.setdefault(_key(spec), spec)
    yosys_executable()
    shown_as = DEFAULT_LIBERTY if liberty is None else str(liberty)
    liberty = default_liberty() if liberty is None else Path(liberty)
    check_liberty(liberty)
    with tempfile.TemporaryDirectory(prefix="thrifty-synth-") as tmp:
        root = Path(tmp) if workdir is None else workdir
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            figures = list(pool.map(lambda s: _synthesize_one(s, liberty, root), specs.values()))
    designs = [
        {
            "design": spec.design,
            "params": spec.params,
            "area_um2": fig.area_um2,
            "cells": fig.cells,
            "transistors": fig.transistors,
            "logic_depth": fig.logic_depth,
            "lanes": spec.lanes,
        }
        for spec, fig in zip(specs.values(), figures, strict=True)
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "thrifty_version": __version__,
        "yosys_version": yosys_version(),
        "liberty": liberty_info(liberty, shown_as),
        "pe_configs": [config.model_dump(mode="json") for config in configs],
        "designs": designs,
    }


def write_synthesis(results: dict[str, Any], out_dir: Path) -> Path:
    """Write the results file into `out_dir` (atomically); return its path."""
    path = Path(out_dir) / RESULTS_FILE
    write_text_atomic(path, json.dumps(results, indent=2) + "\n")
    return path


def preset_configs() -> list[PEConfig]:
    """The PE configurations of the bundled presets, in both windows (what the package ships)."""
    configs: list[PEConfig] = []
    for name in preset_names():
        pe = load_hardware_config(name).pe
        for window in ("accumulator", "product"):
            config = PEConfig.model_validate({**pe.model_dump(), "window": window})
            if config not in configs:
                configs.append(config)
    return configs
