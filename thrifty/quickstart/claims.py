"""The method's three claims, judged on the measured numbers of a quickstart report.

1. The term-serial accelerator beats bit-parallel bfloat16 units at iso compute area on
   ordinary (float32, operands as bfloat16) training. Judged against each baseline the report
   has (the fused dot-product PE and per-lane FMA units): one verdict per baseline, the
   headline baseline's first.
2. It gains more when training uses pruning and quantization (learned integer bits).
3. It gains more again when each layer trains with its own precision (learned significand
   widths).

Each claim is judged on the speedup of the whole training step (forward, backward-data and
backward-weight together: the variant's `total`), under every *realistic* sync policy: the
`ideal` policy is an unsynchronised upper bound, reported in the numbers but not used for the
verdict. A claim whose variant is missing from the report is "not held" and says it was not
measured. Claim 3 compares with the float32 reference ("gains more again" than ordinary
training); its sentence also compares with the best of the pruned and integer variants, so a
reader sees both readings.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from thrifty.report.number_format import format_number, format_percent, format_ratio
from thrifty.report.schema import (
    BASELINE_LABELS,
    BOUND_POLICIES,
    VARIANT_LABELS,
    Claim,
    Comparison,
    QuickstartReport,
    VariantResult,
    WindowResult,
    load_report,
)

DEFAULT_MIN_GAIN = 0.02
"""Relative margin a speedup must clear to count as a gain: 2 % (beats 1× means > 1.02×)."""


def _as_report(report: QuickstartReport | Mapping[str, Any]) -> QuickstartReport:
    return report if isinstance(report, QuickstartReport) else load_report(report)


def deciding_policies(report: QuickstartReport) -> list[str]:
    """Sync policies a verdict rests on: all reported ones except upper bounds (if any remain)."""
    policies = list(report.hardware.sync_policies)
    real = [p for p in policies if p not in BOUND_POLICIES]
    return real or policies


def _by_policy(values: Mapping[str, float], policies: Sequence[str]) -> str:
    """'1.83× (tile), 2.10× (row), 2.50× (ideal bound)'."""
    parts = []
    for policy in policies:
        suffix = " bound" if policy in BOUND_POLICIES else ""
        parts.append(f"{format_ratio(values.get(policy))} ({policy}{suffix})")
    return ", ".join(parts)


def _speedups(variant: VariantResult, policies: Sequence[str]) -> dict[str, float]:
    """The variant's whole-step speedup under each policy, keyed `<variant>.speedup.<policy>`."""
    return {f"{variant.name}.speedup.{p}": variant.total.speedup[p] for p in policies}


def _missing_claim(number: int, title: str, criterion: str, missing: list[str]) -> Claim:
    labels = ", ".join(VARIANT_LABELS[name] for name in missing)
    return Claim(
        number=number,
        title=title,
        criterion=criterion,
        held=False,
        numbers={},
        sentence=f"Not evaluated: the report has no {labels} variant, so this claim was not "
        "measured.",
    )


def _beats_float(
    variant: VariantResult, reference: VariantResult, deciding: Sequence[str], min_gain: float
) -> list[str]:
    """The deciding policies under which `variant` does NOT beat `reference` by the margin."""
    return [
        p
        for p in deciding
        if not variant.total.speedup[p] > reference.total.speedup[p] * (1.0 + min_gain)
    ]


def _margin(min_gain: float) -> str:
    return f"by more than the {format_percent(min_gain)} margin"


def break_even_area_ratio(sweep: Sequence[Any], policy: str) -> float | None:
    """The area ratio at which the swept speedup under `policy` first reaches 1× (linear
    interpolation between sweep points); None when no swept ratio reaches it."""
    points = sorted(
        (p.area_ratio, p.speedup[policy]) for p in sweep if p.speedup.get(policy) is not None
    )
    if points and points[0][1] >= 1.0:
        return points[0][0]
    for (r0, s0), (r1, s1) in itertools.pairwise(points):
        if s0 < 1.0 <= s1:
            return r0 + (1.0 - s0) * (r1 - r0) / (s1 - s0)
    return None


def iso_area_explanation(
    report: QuickstartReport, variant: VariantResult, ratio: float | None = None
) -> str:
    """Why the speedup is what it is: cycles per step against the area ratio (default: the
    headline baseline's), and where the iso-area sweep crosses 1× (the report's sweep section
    shows the curve)."""
    policy = deciding_policies(report)[0]
    ratio = report.hardware.area_ratio if ratio is None else ratio
    parts = [
        f"Why: the bit-parallel unit finishes a step of N multiply-accumulates in 1 cycle, the "
        f"term-serial PE in as many cycles as its slowest lane has effectual terms; iso-area "
        f"buys {ratio:.2f}× as many term-serial PEs, so it wins only if a step averages fewer "
        f"than {ratio:.2f} cycles"
    ]
    at_one = [p for p in variant.iso_area_sweep if p.area_ratio == 1.0 and policy in p.speedup]
    if at_one and at_one[0].speedup[policy] > 0:
        cycles = 1.0 / at_one[0].speedup[policy]
        parts.append(
            f"; measured at equal PE count ({policy} sync) it averages {cycles:.2f} cycles "
            "per step (including stalls)"
        )
    crossing = break_even_area_ratio(variant.iso_area_sweep, policy)
    swept = [p.area_ratio for p in variant.iso_area_sweep]
    if crossing is not None:
        parts.append(f". The iso-area sweep reaches 1× near an area ratio of {crossing:.1f}")
    elif swept:
        parts.append(
            f". The iso-area sweep stays below 1× up to the largest swept area ratio "
            f"({max(swept):g})"
        )
    parts.append(
        " (it grows less than in proportion to the ratio: extra tiles only help layers with "
        "enough output tiles to share out, and off-chip traffic bounds some layers)"
    )
    return "".join(parts) + "."


def headline_name(report: QuickstartReport, baseline: str) -> str:
    """The comparison a verdict against `baseline` rests on: both designs charging off-chip
    traffic as the hardware config's `memory.use_codec` says (both encoded, or neither)."""
    codec = "+codec" if report.hardware.config.memory.use_codec else ""
    return f"term_serial{codec} vs {baseline}{codec}"


def _comparison(comparisons: Sequence[Comparison], name: str) -> Comparison | None:
    return next((c for c in comparisons if c.name == name), None)


def _window_sentence(
    report: QuickstartReport, window: WindowResult, baseline: str, policies: Sequence[str]
) -> str:
    found = _comparison(window.comparisons, headline_name(report, baseline))
    speed = _by_policy(found.speedup, policies) if found else "not measured"
    cost = window.numeric_cost
    return (
        f"with the {window.window} window ({window.window_bits} bits) the speedup is {speed}, "
        f"and the mean normalised error against float64 is "
        f"{format_number(cost.term_error_mean)} (term-serial) against "
        f"{format_number(cost.baseline_error_mean)} (exact-product dot product) and "
        f"{format_number(cost.fma_error_mean)} (per-lane FMA)"
    )


def claim_iso_area(
    report: QuickstartReport, min_gain: float = DEFAULT_MIN_GAIN, baseline: str | None = None
) -> Claim:
    """Claim 1 against `baseline` (default: the headline one): speedup above 1× (by the
    margin) on float32 training under every realistic policy."""
    headline = report.hardware.headline_baseline
    baseline = headline if baseline is None else baseline
    label = BASELINE_LABELS[baseline]
    title = f"Term-serial beats {label} at iso-area on ordinary training"
    criterion = (
        f"The float32 variant's whole-step speedup over {label} of equal compute area is above "
        f"1× {_margin(min_gain)} under every realistic sync policy."
    )
    reference = report.variant("float32")
    if reference is None:
        missing = _missing_claim(1, title, criterion, ["float32"])
        return missing.model_copy(update={"baseline": baseline})
    policies = list(report.hardware.sync_policies)
    found = _comparison(reference.comparisons, headline_name(report, baseline))
    if found is None and baseline != headline:
        return Claim(
            number=1, baseline=baseline, title=title, criterion=criterion, held=False,
            numbers={}, sentence=f"Not evaluated: the report has no comparison with {label}.",
        )  # fmt: skip
    speedup = found.speedup if found else reference.total.speedup
    failing = [p for p in deciding_policies(report) if not speedup[p] > 1.0 + min_gain]
    speedups = _by_policy(speedup, policies)
    prefix = f"float32.vs_{baseline}" if found else "float32"
    numbers = {f"{prefix}.speedup.{p}": speedup[p] for p in policies}
    if found:
        efficiency = {
            "compute": found.energy_efficiency_compute,
            "compute_sram": found.energy_efficiency_compute_sram,
            "total": found.energy_efficiency_total,
        }
        numbers.update({f"{prefix}.energy_efficiency.{k}": v for k, v in efficiency.items()})
        energy = (
            f"the energy efficiency is {format_ratio(efficiency['compute'])} for compute alone, "
            f"{format_ratio(efficiency['compute_sram'])} with SRAM and "
            f"{format_ratio(efficiency['total'])} in total"
        )
    else:
        numbers.update({f"float32.energy_efficiency.{p}": reference.total.energy_efficiency[p]
                        for p in policies})  # fmt: skip
        energy = (
            f"the energy efficiency is {_by_policy(reference.total.energy_efficiency, policies)}"
        )
    area = next((a for a in report.hardware.areas if a.baseline == baseline), None)
    ratio = area.ratio if area else report.hardware.area_ratio
    where = f" (area ratio {ratio:.2f}, from {area.source})" if area else ""
    if failing:
        verdict = (
            f"Not held: on float32 training the speedup over {label} of equal area{where} is "
            f"{speedups}, not above 1× {_margin(min_gain)} under {', '.join(failing)}"
        )
    else:
        verdict = (
            f"Held: on float32 training the speedup over {label} of equal area{where} is {speedups}"
        )
    extra = []
    codec = _comparison(reference.comparisons, f"term_serial+codec vs {baseline}")
    if codec:  # the verdict itself rests on a comparison without it or with both encoded
        extra.append(
            f"With its off-chip codec (the baseline without) the term-serial design reaches "
            f"{_by_policy(codec.speedup, policies)}, total energy efficiency "
            f"{format_ratio(codec.energy_efficiency_total)}."
        )
    windows = [_window_sentence(report, w, baseline, policies) for w in report.windows]
    if windows:
        extra.append("Out-of-bounds window: " + "; ".join(windows) + ".")
        for w in report.windows:
            c = _comparison(w.comparisons, headline_name(report, baseline))
            if c:
                numbers.update({f"{prefix}.{w.window}_window.speedup.{p}": c.speedup[p]
                                for p in policies})  # fmt: skip
    if failing:
        extra.append(iso_area_explanation(report, reference, ratio))
    return Claim(
        number=1,
        baseline=baseline,
        title=title,
        criterion=criterion,
        held=not failing,
        numbers=numbers,
        sentence=f"{verdict}; {energy}." + "".join(f" {e}" for e in extra),
    )


def below_one_note(variants: Sequence[VariantResult], policy: str) -> str:
    """' All of them stay below 1× ...' when a relative gain leaves a variant slower than the
    bit-parallel baseline under `policy` (so 'gains more' is not read as 'is faster')."""
    slow = [v for v in variants if v.total.speedup[policy] < 1.0]
    if not slow:
        return ""
    names = ", ".join(f"{v.label} {format_ratio(v.total.speedup[policy])}" for v in slow)
    return (
        f" The gain is relative: under {policy} sync "
        f"{'these stay' if len(slow) > 1 else 'it stays'} slower than bit-parallel "
        f"units of equal area ({names}); see claim 1 and the iso-area sweep."
    )


def claim_pruning_and_quantization(
    report: QuickstartReport, min_gain: float = DEFAULT_MIN_GAIN
) -> Claim:
    """Claim 2: pruned and integer-bits variants both beat float32's speedup."""
    title = "Pruned and quantized training gain more"
    criterion = (
        "Both the pruned and the learned-integer-bits variants have a higher whole-step "
        f"speedup than the float32 variant, {_margin(min_gain)}, under every realistic sync "
        "policy."
    )
    names = ["float32", "pruned", "integer_bits"]
    missing = [name for name in names if report.variant(name) is None]
    if missing:
        return _missing_claim(2, title, criterion, missing)
    reference, pruned, integer = (report.variant(name) for name in names)
    policies = list(report.hardware.sync_policies)
    deciding = deciding_policies(report)
    shortfalls = {
        v.label: _beats_float(v, reference, deciding, min_gain)
        for v in (pruned, integer)
        if _beats_float(v, reference, deciding, min_gain)
    }
    numbers: dict[str, float] = {}
    for variant in (reference, pruned, integer):
        numbers.update(_speedups(variant, policies))
    body = (
        f"the speedup is {_by_policy(reference.total.speedup, policies)} with float32 "
        f"training, {_by_policy(pruned.total.speedup, policies)} with pruned training and "
        f"{_by_policy(integer.total.speedup, policies)} with learned integer bits"
    )
    if shortfalls:
        misses = "; ".join(f"{label} under {', '.join(p)}" for label, p in shortfalls.items())
        sentence = (
            f"Not held: {body}. It gains no more than the {format_percent(min_gain)} margin "
            f"for {misses}."
        )
    else:
        sentence = f"Held: {body}." + below_one_note([pruned, integer], deciding[0])
    return Claim(
        number=2,
        title=title,
        criterion=criterion,
        held=not shortfalls,
        numbers=numbers,
        sentence=sentence,
    )


def claim_per_layer_precision(
    report: QuickstartReport, min_gain: float = DEFAULT_MIN_GAIN
) -> Claim:
    """Claim 3: the per-layer float precision variant beats float32's speedup."""
    title = "Per-layer precision gains more again"
    criterion = (
        "The learned per-layer float precision variant has a higher whole-step speedup than "
        f"the float32 variant, {_margin(min_gain)}, under every realistic sync policy."
    )
    missing = [name for name in ("float32", "float_bits") if report.variant(name) is None]
    if missing:
        return _missing_claim(3, title, criterion, missing)
    reference, per_layer = report.variant("float32"), report.variant("float_bits")
    policies = list(report.hardware.sync_policies)
    deciding = deciding_policies(report)
    failing = _beats_float(per_layer, reference, deciding, min_gain)
    numbers = {
        **_speedups(reference, policies),
        **_speedups(per_layer, policies),
    }
    body = (
        f"the speedup is {_by_policy(per_layer.total.speedup, policies)} with learned "
        f"per-layer float precision against {_by_policy(reference.total.speedup, policies)} "
        "with float32 training"
    )
    others = [v for v in (report.variant("pruned"), report.variant("integer_bits")) if v]
    context = ""
    if others:
        first = deciding[0]
        best = max(others, key=lambda v: v.total.speedup[first])
        numbers.update(_speedups(best, policies))
        relation = (
            "above" if per_layer.total.speedup[first] > best.total.speedup[first] else ("not above")
        )
        context = (
            f" Under {first} sync it is {relation} the best of the pruned and integer "
            f"variants ({best.label}, {format_ratio(best.total.speedup[first])})."
        )
    if failing:
        sentence = (
            f"Not held: {body}; it gains no more than the {format_percent(min_gain)} margin "
            f"under {', '.join(failing)}."
        )
    else:
        sentence = f"Held: {body}." + below_one_note([per_layer], deciding[0])
    return Claim(
        number=3,
        title=title,
        criterion=criterion,
        held=not failing,
        numbers=numbers,
        sentence=sentence + context,
    )


def evaluate_claims(
    report: QuickstartReport | Mapping[str, Any], min_gain: float = DEFAULT_MIN_GAIN
) -> list[Claim]:
    """Judge the three claims of the method on `report` (a record or a `report.json` dict).

    `min_gain` is the relative margin a speedup must clear to count (default 2 %).
    """
    report = _as_report(report)
    headline = report.hardware.headline_baseline
    reference = report.variant("float32")
    others = sorted({c.baseline for c in reference.comparisons} - {headline}) if reference else []
    return [
        claim_iso_area(report, min_gain),
        *(claim_iso_area(report, min_gain, baseline) for baseline in others),
        claim_pruning_and_quantization(report, min_gain),
        claim_per_layer_precision(report, min_gain),
    ]


def claim_line(claim: Claim) -> str:
    """One console line: the claim's verdict, then the first sentence of its reason (the full
    sentence is in report.json and report.html)."""
    verdict = "held" if claim.held else "NOT held"
    reason = claim.sentence.split(". ")[0].rstrip(".")
    for prefix in ("Held: ", "Not held: "):
        reason = reason.removeprefix(prefix)
    against = f" against {claim.baseline}" if claim.baseline else ""
    return f"claim {claim.number}{against}: {verdict}: {reason}"


def with_claims(report: QuickstartReport | Mapping[str, Any]) -> QuickstartReport:
    """`report` with its `claims` (re)evaluated from its own numbers."""
    report = _as_report(report)
    return report.model_copy(update={"claims": evaluate_claims(report)})


__all__ = [
    "DEFAULT_MIN_GAIN",
    "below_one_note",
    "break_even_area_ratio",
    "claim_iso_area",
    "claim_line",
    "claim_per_layer_precision",
    "claim_pruning_and_quantization",
    "deciding_policies",
    "evaluate_claims",
    "headline_name",
    "iso_area_explanation",
    "with_claims",
]
