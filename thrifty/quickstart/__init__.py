"""`thrifty quickstart`: the whole story — train four variants, capture, simulate, report.

An orchestrator of thrifty's public functions: `thrifty.train.train` trains every variant,
`thrifty.hw.simulate_trace` simulates their captured training steps, the claims of the method
are judged (`thrifty.quickstart.claims`), and the report (schema in `thrifty.report.schema`)
is written as `report.json` and rendered as a self-contained `report.html`.
"""

from __future__ import annotations

from thrifty.quickstart.claims import evaluate_claims, with_claims
from thrifty.quickstart.pipeline import QuickstartResult, run_quickstart
from thrifty.report.schema import Claim, QuickstartReport, dump_report, load_report

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
