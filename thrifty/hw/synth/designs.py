"""The designs synthesized for a PE configuration, each with the config fields it depends on.

Names and parameter keys are those of the synthesis results file (`synthesized_area.json`): a
record matches a PE configuration when every key of its `params` equals the config's value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amaranth.hdl import Elaboratable, Signal

from thrifty.hw.pe.config import PEConfig
from thrifty.hw.rtl import DotProductPE, FMAUnit, TermRecoder, TermSerialPE, check_buildable

DESIGN_NAMES = ("term_serial_pe", "term_recoder", "dot_product_pe", "fma_unit")


@dataclass(frozen=True)
class DesignSpec:
    """One design to synthesize: its name, parameters, MAC lanes and how to build it."""

    design: str
    params: dict[str, Any]
    lanes: int
    build: Callable[[], tuple[Elaboratable, list[Signal]]]


def _window_params(config: PEConfig) -> dict[str, Any]:
    params: dict[str, Any] = {
        "lanes": config.lanes,
        "accumulator_bits": config.accumulator_bits,
        "headroom": config.headroom,
        "window": config.window,
    }
    if config.window == "accumulator":
        params["guard_bits"] = config.guard_bits
    else:
        params["product_window_bits"] = config.product_window_bits
    return params


def _term_serial(config: PEConfig) -> tuple[Elaboratable, list[Signal]]:
    pe = TermSerialPE(config)
    return pe, pe.ports()


def _recoder(config: PEConfig) -> tuple[Elaboratable, list[Signal]]:
    recoder = TermRecoder(config.lanes, config.encoding)
    return recoder, [recoder.fractions, recoder.plus, recoder.minus]


def _dot_product(config: PEConfig) -> tuple[Elaboratable, list[Signal]]:
    pe = DotProductPE(config)
    return pe, pe.ports()


def _fma(config: PEConfig) -> tuple[Elaboratable, list[Signal]]:
    unit = FMAUnit(config)
    return unit, unit.ports()


def designs_for(config: PEConfig) -> list[DesignSpec]:
    """The four designs of one PE configuration (ConfigError if it cannot be built)."""
    check_buildable(config)
    return [
        DesignSpec(
            "term_serial_pe",
            {**_window_params(config), "min_cycles": config.min_cycles},
            config.lanes,
            lambda: _term_serial(config),
        ),
        DesignSpec(
            "term_recoder",
            {"lanes": config.lanes, "encoding": config.encoding},
            config.lanes,
            lambda: _recoder(config),
        ),
        DesignSpec(
            "dot_product_pe", _window_params(config), config.lanes, lambda: _dot_product(config)
        ),
        DesignSpec(
            "fma_unit", {"accumulator_bits": config.accumulator_bits}, 1, lambda: _fma(config)
        ),
    ]
