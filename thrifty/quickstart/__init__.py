"""`thrifty quickstart`: the whole story — train four variants, capture, simulate, report.

The report is `report.json` (schema in `thrifty.quickstart.schema`), judged against the three
claims of the method (`thrifty.quickstart.claims`) and rendered as a self-contained
`report.html` (`thrifty.report.html`).
"""

from __future__ import annotations

from thrifty.quickstart.claims import evaluate_claims, with_claims
from thrifty.quickstart.schema import Claim, QuickstartReport, dump_report, load_report

__all__ = [
    "Claim",
    "QuickstartReport",
    "dump_report",
    "evaluate_claims",
    "load_report",
    "with_claims",
]
