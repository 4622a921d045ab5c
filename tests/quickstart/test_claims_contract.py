"""The claims' exact wording, numbers and boundaries, pinned on hand-made reports.

Written while triaging the mutation run of `thrifty/quickstart/claims.py` (docs/testing.md):
each test pins what a reader relies on — the whole sentence, every number behind a verdict, the
margin's strict inequality, the break-even interpolation — with expected values worked out by
hand from the sample report's round numbers (tests/report/_reports.py: float32 1.5× under tile,
row = 1.25 × tile, ideal = 1.5 × tile; the sweep's tile speedup is 1.5 × ratio / 2).
"""

from __future__ import annotations

import copy

import pytest

from tests.report._reports import sample_report_dict, scale_speedups, with_baselines
from thrifty.quickstart.claims import (
    below_one_note,
    break_even_area_ratio,
    claim_iso_area,
    claim_line,
    claim_per_layer_precision,
    claim_pruning_and_quantization,
    evaluate_claims,
    iso_area_explanation,
)
from thrifty.report.schema import Claim, SweepPoint, load_report

DOT = "bit-parallel bfloat16 dot-product PEs"
FMA = "per-lane bfloat16 FMA units"
WHY_15 = (
    "Why: the bit-parallel unit finishes a step of N multiply-accumulates in 1 cycle, the "
    "term-serial PE in as many cycles as its slowest lane has effectual terms; iso-area buys "
    "1.50× as many term-serial PEs, so it wins only if a step averages fewer than 1.50 cycles"
)
GROWS = (
    " (it grows less than in proportion to the ratio: extra tiles only help layers with enough "
    "output tiles to share out, and off-chip traffic bounds some layers)."
)


def _set_speedup(report: dict, variant: str, policy: str, value: float) -> dict:
    """A copy of `report` whose `variant` has exactly `value` as whole-step speedup."""
    report = copy.deepcopy(report)
    for entry in report["variants"]:
        if entry["name"] == variant:
            entry["total"]["speedup"][policy] = value
    return report


def _drop(report: dict, name: str) -> dict:
    return {**report, "variants": [v for v in report["variants"] if v["name"] != name]}


def _sweep(*points: tuple[float, float]) -> list[SweepPoint]:
    return [SweepPoint(area_ratio=r, speedup={"tile": s}) for r, s in points]


# --- break-even area ratio ------------------------------------------------------------------


def test_break_even_reaching_exactly_one_at_a_sweep_point_is_that_point() -> None:
    assert break_even_area_ratio(_sweep((1.0, 0.5), (2.0, 1.0), (3.0, 1.5)), "tile") == 2.0
    assert break_even_area_ratio(_sweep((1.0, 1.0), (2.0, 1.5)), "tile") == 1.0


def test_break_even_is_the_first_ratio_already_at_one_even_if_the_sweep_dips() -> None:
    # 1.2× at ratio 1: the sweep has reached 1× before it dips to 0.8× at ratio 2.
    assert break_even_area_ratio(_sweep((1.0, 1.2), (2.0, 0.8), (3.0, 1.2)), "tile") == 1.0


def test_break_even_interpolates_from_below_one_and_ignores_other_policies() -> None:
    sweep = [
        SweepPoint(area_ratio=2.0, speedup={"tile": 0.6, "row": 2.0}),
        SweepPoint(area_ratio=1.0, speedup={"tile": 0.2}),
        SweepPoint(area_ratio=4.0, speedup={"tile": 1.4}),
    ]
    # Sorted by ratio: (1, 0.2), (2, 0.6), (4, 1.4): 1× lies halfway from 2 to 4.
    assert break_even_area_ratio(sweep, "tile") == 3.0
    assert break_even_area_ratio(sweep, "row") == 2.0
    assert break_even_area_ratio(sweep, "ideal") is None
    assert break_even_area_ratio([], "tile") is None


# --- the explanation of a failed claim 1 ------------------------------------------------------


def _explain(sweep: list[SweepPoint], ratio: float | None = None) -> str:
    report = load_report(sample_report_dict())
    variant = report.variant("float32").model_copy(update={"iso_area_sweep": sweep})
    return iso_area_explanation(report, variant, ratio)


def test_explanation_uses_the_given_ratio_or_else_the_headline_one() -> None:
    sweep = _sweep((1.0, 0.5), (2.0, 0.8), (4.0, 1.2))
    assert _explain(sweep, 1.5) == (
        WHY_15 + "; measured at equal PE count (tile sync) it averages 2.00 cycles per step "
        "(including stalls). The iso-area sweep reaches 1× near an area ratio of 3.0" + GROWS
    )
    assert "fewer than 2.00 cycles" in _explain(sweep)  # the sample's hardware.area_ratio
    assert "buys 2.00× as many" in _explain(sweep)


def test_explanation_without_a_ratio_one_point_or_with_zero_speedup_there() -> None:
    no_one = _explain(_sweep((1.5, 0.5), (3.0, 0.9)), 1.5)
    assert no_one == (
        WHY_15
        + ". The iso-area sweep stays below 1× up to the largest swept area ratio (3)"
        + GROWS
    )
    zero = _explain(_sweep((1.0, 0.0), (4.0, 0.5)), 1.5)
    assert "cycles per step" not in zero
    assert "largest swept area ratio (4)" in zero
    assert _explain([], 1.5) == WHY_15 + GROWS


# --- claim 1 -----------------------------------------------------------------------------------


def test_claim_one_against_the_dot_product_pes_word_for_word() -> None:
    report = with_baselines(sample_report_dict())
    report["hardware"]["area_ratio"] = 2.0  # the verdict must use the dot-product PEs' 1.50
    dot = evaluate_claims(report)[0]
    assert (dot.number, dot.baseline, dot.held) == (1, "dot_product", False)
    assert dot.title == f"Term-serial beats {DOT} at iso-area on ordinary training"
    assert dot.criterion == (
        f"The float32 variant's whole-step speedup over {DOT} of equal compute area is above 1× "
        "by more than the 2.0 % margin under every realistic sync policy."
    )
    prefix = "float32.vs_dot_product"
    assert dot.numbers == pytest.approx({
        f"{prefix}.speedup.tile": 0.8, f"{prefix}.speedup.row": 1.0,
        f"{prefix}.speedup.ideal": 1.2,
        f"{prefix}.energy_efficiency.compute": 3.0,
        f"{prefix}.energy_efficiency.compute_sram": 1.25,
        f"{prefix}.energy_efficiency.total": 9.0 / 7.0,
        f"{prefix}.accumulator_window.speedup.tile": 0.8,
        f"{prefix}.accumulator_window.speedup.row": 1.0,
        f"{prefix}.accumulator_window.speedup.ideal": 1.2,
        f"{prefix}.product_window.speedup.tile": 0.9,
        f"{prefix}.product_window.speedup.row": 1.125,
        f"{prefix}.product_window.speedup.ideal": 1.35,
    })  # fmt: skip
    errors = (
        "and the mean normalised error against float64 is {} (term-serial) against 5e-09 "
        "(exact-product dot product) and 2e-08 (per-lane FMA)"
    )
    assert (
        dot.sentence
        == (
            f"Not held: on float32 training the speedup over {DOT} of equal area "
            "(area ratio 1.50, from synthesis (made up)) is 0.80× (tile), 1.00× (row), "
            "1.20× (ideal bound), not above 1× by more than the 2.0 % margin under tile, row; "
            "the energy efficiency is 3.00× for "
            "compute alone, 1.25× with SRAM and 1.29× in total. With its off-chip codec (the "
            "baseline without) the term-serial design reaches 0.88× (tile), 1.10× (row), 1.32× "
            "(ideal bound), total energy efficiency 1.29×. Out-of-bounds window: with the "
            "accumulator window (27 bits) the speedup is 0.80× (tile), 1.00× (row), 1.20× (ideal "
            f"bound), {errors.format('1e-08')}; with the product window (19 bits) the speedup is "
            f"0.90× (tile), 1.12× (row), 1.35× (ideal bound), {errors.format('1e-05')}. "
            # the sample sweep: 0.75× at ratio 1 (1/0.75 = 1.33 cycles), 1.125× at 1.5: 1× at 1.33
            + WHY_15
            + "; measured at equal PE count (tile sync) it averages 1.33 cycles per step "
            "(including stalls). The iso-area sweep reaches 1× near an area ratio of 1.3" + GROWS
        )
    )


def test_claim_one_held_has_no_explanation_and_mentions_the_codec_when_it_decides() -> None:
    report = with_baselines(sample_report_dict())
    report["windows"] = []
    fma = evaluate_claims(report)[1]
    assert fma.held and fma.sentence == (
        f"Held: on float32 training the speedup over {FMA} of equal area (area ratio 2.50, from "
        "synthesis (made up)) is 1.20× (tile), 1.50× (row), 1.80× (ideal bound); the energy "
        "efficiency is 3.00× for compute alone, 1.25× with SRAM and 1.29× in total. With its "
        "off-chip codec (the baseline without) the term-serial design reaches 1.32× (tile), "
        "1.65× (row), 1.98× (ideal bound), total energy efficiency 1.29×."
    )


def test_claim_one_without_the_plain_comparison_falls_back_to_the_variant_total() -> None:
    report = with_baselines(sample_report_dict())
    report["windows"] = []
    for variant in report["variants"]:
        variant["comparisons"] = [
            c for c in variant["comparisons"] if c["name"] != "term_serial vs dot_product"
        ]
    dot = evaluate_claims(report)[0]
    assert dot.held  # the variant's own total: 1.5× (tile)
    assert dot.numbers == {
        "float32.speedup.tile": 1.5, "float32.speedup.row": 1.875, "float32.speedup.ideal": 2.25,
        "float32.energy_efficiency.tile": 1.125, "float32.energy_efficiency.row": 1.40625,
        "float32.energy_efficiency.ideal": 1.6875,
    }  # fmt: skip
    assert dot.sentence.endswith(
        "the energy efficiency is 1.12× (tile), 1.41× (row), 1.69× (ideal bound). With its "
        "off-chip codec (the baseline without) the term-serial design reaches 0.88× (tile), "
        "1.10× (row), 1.32× (ideal bound), total energy efficiency 1.29×."
    )


def test_a_window_without_the_comparison_says_not_measured() -> None:
    report = with_baselines(sample_report_dict())
    product = report["windows"][1]
    product["comparisons"] = [c for c in product["comparisons"] if c["baseline"] != "dot_product"]
    dot = evaluate_claims(report)[0]
    assert "with the product window (19 bits) the speedup is not measured, and" in dot.sentence
    assert not any(key.startswith("float32.vs_dot_product.product_window") for key in dot.numbers)


def test_claim_one_for_a_baseline_without_a_comparison_and_without_float32() -> None:
    report = load_report(sample_report_dict())  # no comparisons at all
    fma = claim_iso_area(report, baseline="per_lane_fma")
    assert fma == Claim(
        number=1, baseline="per_lane_fma",
        title=f"Term-serial beats {FMA} at iso-area on ordinary training",
        criterion=f"The float32 variant's whole-step speedup over {FMA} of equal compute area "
        "is above 1× by more than the 2.0 % margin under every realistic sync policy.",
        held=False, numbers={},
        sentence=f"Not evaluated: the report has no comparison with {FMA}.",
    )  # fmt: skip
    missing = claim_iso_area(load_report(_drop(sample_report_dict(), "float32")))
    assert (missing.number, missing.baseline, missing.held, missing.numbers) == (
        1, "dot_product", False, {}
    )  # fmt: skip
    assert missing.sentence == (
        "Not evaluated: the report has no float32 reference variant, so this claim was not "
        "measured."
    )


def test_a_speedup_of_exactly_one_plus_the_margin_is_not_a_gain() -> None:
    report = _set_speedup(sample_report_dict(), "float32", "tile", 1.0)
    assert not claim_iso_area(load_report(report), min_gain=0.0).held
    assert claim_iso_area(load_report(_set_speedup(report, "float32", "tile", 1.0 + 1e-9)),
                          min_gain=0.0).held  # fmt: skip


# --- claims 2 and 3 ------------------------------------------------------------------------


def test_claim_two_word_for_word_and_its_numbers() -> None:
    two = claim_pruning_and_quantization(load_report(sample_report_dict()))
    assert (two.number, two.baseline, two.title) == (
        2, None, "Pruned and quantized training gain more"
    )  # fmt: skip
    assert two.criterion == (
        "Both the pruned and the learned-integer-bits variants have a higher whole-step speedup "
        "than the float32 variant, by more than the 2.0 % margin, under every realistic sync "
        "policy."
    )
    assert two.numbers == {
        f"{v}.speedup.{p}": tile * factor
        for v, tile in (("float32", 1.5), ("pruned", 2.0), ("integer_bits", 2.5))
        for p, factor in (("tile", 1.0), ("row", 1.25), ("ideal", 1.5))
    }
    both = scale_speedups(scale_speedups(sample_report_dict(), "pruned", "tile", 0.5),
                          "pruned", "row", 0.5)  # fmt: skip
    assert claim_pruning_and_quantization(load_report(both)).sentence.endswith(
        "It gains no more than the 2.0 % margin for pruned under tile, row."
    )
    missing = claim_pruning_and_quantization(load_report(_drop(sample_report_dict(), "pruned")))
    assert (missing.number, missing.held, missing.numbers) == (2, False, {})
    assert missing.sentence == (
        "Not evaluated: the report has no pruned variant, so this claim was not measured."
    )


def test_claim_two_uses_the_margin_it_is_given() -> None:
    # pruned 1.5 × 1.01 under tile: a 1 % gain over float32 counts at 0.5 %, not at 2 %.
    report = _set_speedup(sample_report_dict(), "pruned", "tile", 1.5 * 1.01)
    assert not evaluate_claims(report)[1].held
    assert evaluate_claims(report, min_gain=0.005)[1].held
    assert evaluate_claims(report, min_gain=0.005)[1].criterion.count("0.5 %") == 1


def test_claim_three_word_for_word_with_the_pruned_variant_as_the_best_other() -> None:
    report = load_report(_drop(sample_report_dict(), "integer_bits"))
    three = claim_per_layer_precision(report)
    assert (three.number, three.baseline, three.held) == (3, None, True)
    assert three.title == "Per-layer precision gains more again"
    assert three.criterion == (
        "The learned per-layer float precision variant has a higher whole-step speedup than "
        "the float32 variant, by more than the 2.0 % margin, under every realistic sync policy."
    )
    assert three.sentence == (
        "Held: the speedup is 3.00× (tile), 3.75× (row), 4.50× (ideal bound) with learned "
        "per-layer float precision against 1.50× (tile), 1.88× (row), 2.25× (ideal bound) with "
        "float32 training. Under tile sync it is above the best of the pruned and integer "
        "variants (pruned, 2.00×)."
    )
    assert three.numbers == {
        f"{v}.speedup.{p}": tile * factor
        for v, tile in (("float32", 1.5), ("float_bits", 3.0), ("pruned", 2.0))
        for p, factor in (("tile", 1.0), ("row", 1.25), ("ideal", 1.5))
    }


def test_claim_three_alone_and_when_it_only_equals_the_best_other() -> None:
    alone = _drop(_drop(sample_report_dict(), "integer_bits"), "pruned")
    assert claim_per_layer_precision(load_report(alone)).sentence == (
        "Held: the speedup is 3.00× (tile), 3.75× (row), 4.50× (ideal bound) with learned "
        "per-layer float precision against 1.50× (tile), 1.88× (row), 2.25× (ideal bound) with "
        "float32 training."
    )
    equal = _set_speedup(sample_report_dict(), "float_bits", "tile", 2.5)  # = integer bits
    assert claim_per_layer_precision(load_report(equal)).sentence.endswith(
        "Under tile sync it is not above the best of the pruned and integer variants "
        "(learned integer bits, 2.50×)."
    )
    slow = _set_speedup(_set_speedup(sample_report_dict(), "float_bits", "tile", 1.5),
                        "float_bits", "row", 1.875)  # fmt: skip
    three = claim_per_layer_precision(load_report(slow))
    assert not three.held
    assert "; it gains no more than the 2.0 % margin under tile, row. Under tile" in three.sentence
    missing = claim_per_layer_precision(load_report(_drop(sample_report_dict(), "float_bits")))
    assert (missing.number, missing.held) == (3, False)


# --- the relative-gain note and the console line ----------------------------------------------


def test_below_one_note_names_each_slow_variant_and_spares_exactly_one() -> None:
    report = sample_report_dict()
    report = _set_speedup(report, "pruned", "tile", 0.5)
    report = _set_speedup(report, "integer_bits", "tile", 1.0)  # exactly 1×: not slower
    report = _set_speedup(report, "float_bits", "tile", 1.5)  # above 1×, below 2×
    loaded = load_report(report)
    variants = [loaded.variant(name) for name in ("pruned", "integer_bits", "float_bits")]
    assert below_one_note(variants, "tile") == (
        " The gain is relative: under tile sync it stays slower than bit-parallel units of "
        "equal area (pruned 0.50×); see claim 1 and the iso-area sweep."
    )
    two_slow = load_report(_set_speedup(report, "float_bits", "tile", 0.25))
    assert below_one_note([two_slow.variant("pruned"), two_slow.variant("float_bits")], "tile") == (
        " The gain is relative: under tile sync these stay slower than bit-parallel units of "
        "equal area (pruned 0.50×, learned per-layer float precision 0.25×); see claim 1 and "
        "the iso-area sweep."
    )
    assert below_one_note(variants[1:], "tile") == ""


def test_claim_line_is_the_verdict_and_the_first_sentence() -> None:
    claims = evaluate_claims(with_baselines(sample_report_dict()))
    assert claim_line(claims[0]) == (
        f"claim 1 against dot_product: NOT held: on float32 training the speedup over {DOT} of "
        "equal area (area ratio 1.50, from synthesis (made up)) is 0.80× (tile), 1.00× (row), "
        "1.20× (ideal bound), not above 1× by more than the 2.0 % margin under tile, row; the "
        "energy efficiency is 3.00× for compute alone, 1.25× with SRAM and 1.29× in total"
    )
    assert claim_line(claims[2]) == (
        "claim 2: held: the speedup is 1.50× (tile), 1.88× (row), 2.25× (ideal bound) with "
        "float32 training, 2.00× (tile), 2.50× (row), 3.00× (ideal bound) with pruned training "
        "and 2.50× (tile), 3.12× (row), 3.75× (ideal bound) with learned integer bits"
    )
    missing = evaluate_claims(_drop(sample_report_dict(), "float_bits"))[2]
    assert claim_line(missing) == (
        "claim 3: NOT held: Not evaluated: the report has no learned per-layer float precision "
        "variant, so this claim was not measured"
    )


def test_a_variant_exactly_at_the_reference_times_the_margin_does_not_gain() -> None:
    # float_bits 1.5× = float32's 1.5× under tile: with no margin, equal is still no gain.
    report = _set_speedup(sample_report_dict(), "float_bits", "tile", 1.5)
    three = claim_per_layer_precision(load_report(report), min_gain=0.0)
    assert not three.held
    assert "it gains no more than the 0.0 % margin under tile." in three.sentence
    pruned = _set_speedup(sample_report_dict(), "pruned", "row", 1.875)  # = float32 under row
    assert not claim_pruning_and_quantization(load_report(pruned), min_gain=0.0).held
