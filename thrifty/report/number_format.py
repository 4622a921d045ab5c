"""How numbers appear in human-readable reports: the one place that turns a number into text.

Tables, claim sentences and HTML call these instead of formatting numbers inline, so a value
reads the same everywhere and a missing value reads as an em dash rather than "None".
"""

from __future__ import annotations

import math

MISSING = "—"
"""Text shown for a value that was not measured (None) or is not a finite number."""

RATIO_DIGITS = 2
"""Decimals of a ratio such as a speedup (1.83×)."""

PERCENT_DIGITS = 1
"""Decimals of a percentage (87.3 %)."""

BITS_DIGITS = 2
"""Decimals of a (possibly fractional, learned) bitlength or bits per value."""


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def format_ratio(value: float | None) -> str:
    """A unitless ratio with a multiplication sign: 1.8349 → '1.83×'."""
    return MISSING if _missing(value) else f"{value:.{RATIO_DIGITS}f}×"


def format_percent(fraction: float | None) -> str:
    """A fraction in [0, 1] as a percentage: 0.8734 → '87.3 %'."""
    return MISSING if _missing(fraction) else f"{100.0 * fraction:.{PERCENT_DIGITS}f} %"


def format_bits(value: float | None) -> str:
    """A bitlength or bits per value: 4.125 → '4.13' (integers stay integers: 8 → '8')."""
    if _missing(value):
        return MISSING
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.{BITS_DIGITS}f}"


def format_count(value: int | None) -> str:
    """An integer count with thousands separators: 1234567 → '1,234,567'."""
    return MISSING if value is None else f"{int(value):,}"


def format_seconds(value: float | None) -> str:
    """A duration in seconds: 73.25 → '73.2 s'."""
    return MISSING if _missing(value) else f"{value:.1f} s"


def format_number(value: float | None, digits: int = 3) -> str:
    """Any other number with `digits` significant digits: 0.0012345 → '0.00123'."""
    return MISSING if _missing(value) else f"{value:.{digits}g}"


def format_plain(value: object) -> str:
    """A JSON scalar as text: numbers via the helpers above, booleans as yes/no, None as —."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return format_count(value).replace(",", "")
    if isinstance(value, float):
        return format_number(value, 6)
    return str(value)


__all__ = [
    "MISSING",
    "format_bits",
    "format_count",
    "format_number",
    "format_percent",
    "format_plain",
    "format_ratio",
    "format_seconds",
]
