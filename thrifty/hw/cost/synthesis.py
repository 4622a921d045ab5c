"""Synthesized PE areas: the table `thrifty hw synth` writes, and the lookup of a config in it.

The table is JSON (schema version 1). It names the Yosys version and the Liberty cell library
the designs were mapped to, and holds one record per synthesized design:

- `term_serial_pe`: one term-serial PE without its term recoder;
- `term_recoder`: the term recoder of one lane group, shared by the PEs of a tile row
  (a term-serial PE's share is `term_recoder / row_pes`);
- `dot_product_pe`: the fused bit-parallel bfloat16 dot-product PE of the same lanes and
  accumulator;
- `fma_unit`: one conventional bfloat16 × bfloat16 multiply + float32 add unit (one MAC per
  cycle); a per-lane FMA baseline PE is `lanes` of them.

Each record's `params` are the `PEConfig` fields the design depends on; a record matches a
config when every one of them equals the config's value. thrifty ships the table of its presets
as package data (`data/synthesized_area.json`) so that a simulation needs no Yosys; a user table
of the same format (`AreaConfig.synthesis_file`) replaces it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thrifty.errors import ConfigError
from thrifty.hw.pe.config import PEConfig

SYNTHESIS_SCHEMA_VERSION = 1
#: The table thrifty ships: its presets synthesized against the bundled Liberty library.
SHIPPED_TABLE = Path(__file__).resolve().parent / "data" / "synthesized_area.json"
DESIGNS: tuple[str, ...] = ("term_serial_pe", "term_recoder", "dot_product_pe", "fma_unit")
_MISSING = object()


@dataclass(frozen=True)
class SynthesisRecord:
    """One synthesized design: its parameters and what Yosys reported for it."""

    design: str
    params: dict[str, Any]
    area_um2: float
    cells: int
    transistors: int | None
    logic_depth: int
    lanes: int

    def matches(self, pe: PEConfig) -> bool:
        """True when every parameter of the record equals the PE config's value."""
        return all(getattr(pe, key, _MISSING) == value for key, value in self.params.items())


@dataclass(frozen=True)
class SynthesisTable:
    """A whole synthesis table: provenance (tool, cell library) and its records."""

    path: str
    thrifty_version: str
    yosys_version: str
    liberty: dict[str, str]
    records: tuple[SynthesisRecord, ...]

    def find(self, design: str, pe: PEConfig) -> SynthesisRecord | None:
        """The record of `design` matching `pe` (the most specific one), or None."""
        if design not in DESIGNS:
            raise ConfigError(f"unknown synthesized design {design!r}; choose one of {DESIGNS}")
        found = [r for r in self.records if r.design == design and r.matches(pe)]
        return max(found, key=lambda r: len(r.params)) if found else None

    @property
    def library(self) -> str:
        """Name of the cell library the designs were mapped to."""
        return str(self.liberty.get("name", "unknown library"))


def _fail(path: Path, what: str) -> ConfigError:
    return ConfigError(
        f"synthesis table {str(path)!r}: {what}; write it with `thrifty hw synth --out DIR` or "
        f"follow the format of the shipped table ({SHIPPED_TABLE.name})"
    )


def _record(raw: Any, index: int, path: Path) -> SynthesisRecord:
    where = f"designs[{index}]"
    if not isinstance(raw, Mapping):
        raise _fail(path, f"{where} is {type(raw).__name__}, expected an object")
    missing = [k for k in ("design", "params", "area_um2", "cells", "logic_depth", "lanes")
               if k not in raw]  # fmt: skip
    if missing:
        raise _fail(path, f"{where} lacks {missing}")
    if raw["design"] not in DESIGNS:
        raise _fail(path, f"{where}.design is {raw['design']!r}, expected one of {list(DESIGNS)}")
    if not isinstance(raw["params"], Mapping):
        raise _fail(path, f"{where}.params is {type(raw['params']).__name__}, expected an object")
    area = raw["area_um2"]
    if isinstance(area, bool) or not isinstance(area, (int, float)) or not math.isfinite(area) \
            or area <= 0:  # fmt: skip
        raise _fail(path, f"{where}.area_um2 is {area!r}, expected a positive number (µm²)")
    for key in ("cells", "logic_depth", "lanes"):
        if isinstance(raw[key], bool) or not isinstance(raw[key], int) or raw[key] < 0:
            raise _fail(path, f"{where}.{key} is {raw[key]!r}, expected a whole number ≥ 0")
    transistors = raw.get("transistors")
    if transistors is not None and (
        isinstance(transistors, bool) or not isinstance(transistors, int)
    ):
        raise _fail(path, f"{where}.transistors is {transistors!r}, expected an integer or null")
    return SynthesisRecord(
        design=str(raw["design"]),
        params=dict(raw["params"]),
        area_um2=float(area),
        cells=int(raw["cells"]),
        transistors=transistors,
        logic_depth=int(raw["logic_depth"]),
        lanes=int(raw["lanes"]),
    )


def read_synthesis_table(path: str | Path) -> SynthesisTable:
    """Read and check a synthesis table; ConfigError names the file and what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _fail(path, f"cannot be read as JSON ({error})") from None
    if not isinstance(data, Mapping):
        raise _fail(path, f"top level is {type(data).__name__}, expected an object")
    version = data.get("schema_version")
    if version != SYNTHESIS_SCHEMA_VERSION:
        raise _fail(path, f"schema_version is {version!r}, expected {SYNTHESIS_SCHEMA_VERSION}")
    liberty = data.get("liberty")
    if not isinstance(liberty, Mapping) or "name" not in liberty:
        raise _fail(path, "liberty must be an object with at least a 'name'")
    designs = data.get("designs")
    if not isinstance(designs, list):
        raise _fail(path, f"designs is {type(designs).__name__}, expected a list of records")
    return SynthesisTable(
        path=str(path),
        thrifty_version=str(data.get("thrifty_version", "unknown")),
        yosys_version=str(data.get("yosys_version", "unknown")),
        liberty={str(k): str(v) for k, v in liberty.items()},
        records=tuple(_record(raw, i, path) for i, raw in enumerate(designs)),
    )


def load_synthesis_table(path: str | Path | None = None) -> SynthesisTable | None:
    """A user table (`path`), else the shipped one; None when no path is given and none ships."""
    if path is not None:
        return read_synthesis_table(path)
    if not SHIPPED_TABLE.exists():
        return None
    return read_synthesis_table(SHIPPED_TABLE)


__all__ = [
    "DESIGNS",
    "SHIPPED_TABLE",
    "SYNTHESIS_SCHEMA_VERSION",
    "SynthesisRecord",
    "SynthesisTable",
    "load_synthesis_table",
    "read_synthesis_table",
]
