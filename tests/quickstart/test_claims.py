"""The three claims, judged exactly on hand-made reports: held, not held, not measured."""

from __future__ import annotations

import pytest

from tests.report._reports import sample_report_dict, scale_speedups, with_baselines
from thrifty.quickstart import evaluate_claims, load_report, with_claims
from thrifty.quickstart.claims import deciding_policies


def _drop(report: dict, name: str) -> dict:
    return {**report, "variants": [v for v in report["variants"] if v["name"] != name]}


def test_all_claims_hold_on_the_sample_with_their_numbers() -> None:
    claims = evaluate_claims(sample_report_dict())
    assert [(c.number, c.held) for c in claims] == [(1, True), (2, True), (3, True)]
    one, two, three = claims
    assert one.numbers == {
        "float32.speedup.tile": 1.5,
        "float32.speedup.row": 1.875,
        "float32.speedup.ideal": 2.25,
        "float32.energy_efficiency.tile": 1.125,
        "float32.energy_efficiency.row": 1.40625,
        "float32.energy_efficiency.ideal": 1.6875,
    }
    assert one.sentence == (
        "Held: on float32 training the speedup over bit-parallel bfloat16 dot-product PEs of "
        "equal area is 1.50× (tile), 1.88× (row), 2.25× (ideal bound); the energy efficiency is "
        "1.12× (tile), 1.41× (row), 1.69× (ideal bound)."
    )
    assert two.numbers["pruned.speedup.row"] == 2.5
    assert two.numbers["integer_bits.speedup.tile"] == 2.5
    assert two.sentence == (
        "Held: the speedup is 1.50× (tile), 1.88× (row), 2.25× (ideal bound) with float32 "
        "training, 2.00× (tile), 2.50× (row), 3.00× (ideal bound) with pruned training and "
        "2.50× (tile), 3.12× (row), 3.75× (ideal bound) with learned integer bits."
    )
    assert three.numbers["float_bits.speedup.ideal"] == 4.5
    assert three.sentence.endswith(
        "Under tile sync it is above the best of the pruned and integer variants "
        "(learned integer bits, 2.50×)."
    )


def test_claim_one_not_held_when_tile_sync_is_slower() -> None:
    report = scale_speedups(sample_report_dict(), "float32", "tile", 0.6)
    one = evaluate_claims(report)[0]
    assert not one.held
    assert one.numbers["float32.speedup.tile"] == 1.5 * 0.6
    assert one.sentence.startswith(
        "Not held: on float32 training the speedup over bit-parallel bfloat16 dot-product PEs "
        "of equal area is 0.90× (tile), 1.88× (row), 2.25× (ideal bound), not above 1× by more "
        "than the 2.0 % margin under tile;"
    )


def test_ideal_bound_alone_does_not_decide() -> None:
    report = scale_speedups(sample_report_dict(), "float32", "ideal", 0.1)
    assert evaluate_claims(report)[0].held
    report = scale_speedups(sample_report_dict(), "pruned", "ideal", 0.1)
    assert evaluate_claims(report)[1].held
    assert deciding_policies(load_report(report)) == ["tile", "row"]


def test_ideal_decides_when_it_is_the_only_policy() -> None:
    report = sample_report_dict()
    report["hardware"]["sync_policies"] = ["ideal"]
    assert deciding_policies(load_report(report)) == ["ideal"]
    one = evaluate_claims(report)[0]
    assert one.held and one.numbers == {
        "float32.speedup.ideal": 2.25,
        "float32.energy_efficiency.ideal": 1.6875,
    }


def test_claim_two_names_the_variant_and_policy_that_fall_short() -> None:
    # pruned row speedup 2.5 × 0.5 = 1.25 < float32's 1.875; integer bits still gains more.
    report = scale_speedups(sample_report_dict(), "pruned", "row", 0.5)
    two = evaluate_claims(report)[1]
    assert not two.held
    assert two.sentence.endswith("It gains no more than the 2.0 % margin for pruned under row.")
    report = scale_speedups(report, "integer_bits", "tile", 0.5)
    assert evaluate_claims(report)[1].sentence.endswith(
        "It gains no more than the 2.0 % margin for pruned under row; learned integer bits "
        "under tile."
    )


def test_equal_speedup_is_not_a_gain() -> None:
    report = scale_speedups(sample_report_dict(), "float_bits", "tile", 0.5)  # 3.0 → 1.5
    three = evaluate_claims(report)[2]
    assert not three.held
    assert "; it gains no more than the 2.0 % margin under tile." in three.sentence
    assert three.sentence.endswith(
        "Under tile sync it is not above the best of the pruned and integer variants "
        "(learned integer bits, 2.50×)."
    )


def test_missing_variants_are_reported_as_not_measured() -> None:
    report = _drop(_drop(sample_report_dict(), "integer_bits"), "float32")
    claims = evaluate_claims(report)
    assert [c.held for c in claims] == [False, False, False]
    assert claims[0].sentence == (
        "Not evaluated: the report has no float32 reference variant, so this claim was not "
        "measured."
    )
    assert "no float32 reference, learned integer bits variant" in claims[1].sentence
    assert all(c.numbers == {} for c in claims)


def test_claim_three_without_pruned_or_integer_has_no_comparison() -> None:
    report = _drop(_drop(sample_report_dict(), "integer_bits"), "pruned")
    three = evaluate_claims(report)[2]
    assert three.held and "best of" not in three.sentence
    assert set(three.numbers) == {
        f"{v}.speedup.{p}" for v in ("float32", "float_bits") for p in ("tile", "row", "ideal")
    }


def test_with_claims_fills_the_report() -> None:
    report = with_claims(sample_report_dict())
    assert [c.number for c in report.claims] == [1, 2, 3]
    assert load_report(report.model_dump(mode="json")) == report


def test_gains_within_the_margin_do_not_count() -> None:
    report = sample_report_dict()
    # float32 tile 1.5 → 1.01: above 1× but within the 2 % margin.
    report = scale_speedups(report, "float32", "tile", 1.01 / 1.5)
    # float_bits tile 3.0 → 1.01 × 1.015: 1.5 % above float32's 1.01.
    report = scale_speedups(report, "float_bits", "tile", 1.01 * 1.015 / 3.0)
    one, _, three = evaluate_claims(report)
    assert not one.held and not three.held
    assert "by more than the 2.0 % margin" in one.criterion
    assert evaluate_claims(report, min_gain=0.005)[0].held
    assert evaluate_claims(report, min_gain=0.005)[2].held


def test_break_even_interpolates_the_sweep_and_explains_a_failed_claim_one() -> None:
    from thrifty.quickstart.claims import break_even_area_ratio
    from thrifty.report.schema import SweepPoint

    sweep = [
        SweepPoint(area_ratio=1.0, speedup={"tile": 0.5}),
        SweepPoint(area_ratio=2.0, speedup={"tile": 0.8}),
        SweepPoint(area_ratio=4.0, speedup={"tile": 1.2}),
    ]
    assert break_even_area_ratio(sweep, "tile") == 3.0
    assert break_even_area_ratio(sweep[:2], "tile") is None
    assert break_even_area_ratio(sweep[2:], "tile") == 4.0
    report = load_report(scale_speedups(sample_report_dict(), "float32", "tile", 0.6))
    slow = report.variant("float32").model_copy(update={"iso_area_sweep": sweep})
    report = report.model_copy(
        update={"variants": [slow if v.name == "float32" else v for v in report.variants]}
    )
    one = evaluate_claims(report)[0]
    assert not one.held
    assert "wins only if a step averages fewer than 2.00 cycles" in one.sentence
    assert "averages 2.00 cycles per step" in one.sentence
    assert "reaches 1× near an area ratio of 3.0" in one.sentence


def test_held_relative_gains_say_when_variants_stay_below_one() -> None:
    report = sample_report_dict()
    for name in ("float32", "pruned", "integer_bits", "float_bits"):
        report = scale_speedups(report, name, "tile", 0.25)
    two, three = evaluate_claims(report)[1:]
    assert two.held and three.held
    assert "The gain is relative: under tile sync these stay slower" in two.sentence
    assert "learned per-layer float precision" in three.sentence.split("The gain")[1]
    assert "The gain is relative" not in evaluate_claims(sample_report_dict())[1].sentence


def test_claim_one_against_each_baseline_with_windows_and_energy_split() -> None:
    report = with_baselines(sample_report_dict())
    claims = evaluate_claims(report)
    assert [(c.number, c.baseline) for c in claims] == [
        (1, "dot_product"), (1, "per_lane_fma"), (2, None), (3, None)
    ]  # fmt: skip
    dot, fma = claims[0], claims[1]
    # Against the dot-product PEs: 0.80× (tile) under the accumulator window: not held.
    assert not dot.held and dot.numbers["float32.vs_dot_product.speedup.tile"] == 0.8
    assert dot.sentence.startswith(
        "Not held: on float32 training the speedup over bit-parallel bfloat16 dot-product PEs "
        "of equal area (area ratio 1.50, from synthesis (made up)) is 0.80× (tile), "
        "1.00× (row), 1.20× (ideal bound), not above 1×"
    )
    # Against per-lane FMA units: 1.20× (tile), 1.50× (row): held.
    assert fma.held and fma.title.endswith("per-lane bfloat16 FMA units at iso-area on "
                                           "ordinary training")  # fmt: skip
    assert fma.numbers["float32.vs_per_lane_fma.energy_efficiency.compute_sram"] == 1.25
    assert fma.numbers["float32.vs_per_lane_fma.product_window.speedup.tile"] == 1.4
    assert (
        "the energy efficiency is 3.00× for compute alone, 1.25× with SRAM and 1.29× in total."
        in fma.sentence
    )
    assert "With its off-chip codec (the baseline without) the term-serial design reaches " \
        "1.32× (tile)" in fma.sentence  # fmt: skip
    assert (
        "with the product window (19 bits) the speedup is 1.40× (tile), 1.75× (row), 2.10× "
        "(ideal bound), and the mean normalised error against float64 is 1e-05 (term-serial) "
        "against 5e-09 (exact-product dot product) and 2e-08 (per-lane FMA)" in fma.sentence
    )
    # With both designs' traffic encoded, the verdict rests on the +codec comparison.
    report["hardware"]["config"]["memory"]["use_codec"] = True
    coded = evaluate_claims(report)[1]
    assert coded.numbers["float32.vs_per_lane_fma.speedup.tile"] == pytest.approx(1.2 * 0.9)
