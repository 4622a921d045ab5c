"""`thrifty quickstart`: the whole story — train four variants, capture, simulate, report.

The report is `report.json` (schema in `thrifty.quickstart.schema`), judged against the three
claims of the method (`thrifty.quickstart.claims`) and rendered as a self-contained
`report.html` (`thrifty.report.html`).
"""

from __future__ import annotations

from typing import Any

from thrifty.quickstart.claims import evaluate_claims, with_claims
from thrifty.quickstart.schema import Claim, QuickstartReport, dump_report, load_report

__all__ = [
    "Claim",
    "QuickstartReport",
    "QuickstartResult",
    "dump_report",
    "evaluate_claims",
    "load_report",
    "run_quickstart",
    "with_claims",
]


def __getattr__(name: str) -> Any:
    # The pipeline imports thrifty.report.html, which imports this package: load it lazily.
    if name in ("run_quickstart", "QuickstartResult"):
        from thrifty.quickstart import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'thrifty.quickstart' has no attribute {name!r}")
