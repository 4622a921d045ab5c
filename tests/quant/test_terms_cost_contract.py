"""The terms criterion's arithmetic on hand-made records: every statistic, side and message.

Written while triaging the mutation run of `thrifty/quant/costs.py` (docs/testing.md). The
records and term counts are built by hand, so each expected value is worked out in the comments
independently of the counting kernels: mean terms mixed with α = n − floor(n), term histograms,
the expected maximum over lanes, the MAC weighting, and which side is priced.
"""

from __future__ import annotations

import pytest
import torch

from thrifty.errors import QuantizationError
from thrifty.quant.config import TermsConfig
from thrifty.quant.costs import LayerBits, LayerTerms, expected_terms, terms_cost
from thrifty.quant.term_counts import BINS, TermCounts


def _means(low: list[float], high: list[float], bits: list[float], **kw) -> LayerTerms:
    level = torch.floor(torch.tensor(bits, dtype=torch.float64))
    counts = TermCounts(
        level=level,
        low=torch.tensor(low, dtype=torch.float64),
        high=torch.tensor(high, dtype=torch.float64),
        histogram=False,
        values=4,
        **kw,
    )
    return LayerTerms(counts=counts, bits=torch.tensor(bits, dtype=torch.float32))


def _histogram(low: dict[int, float], high: dict[int, float], bits: float) -> LayerTerms:
    """One group whose values have t terms with the given fractions at level and level + 1."""

    def row(fractions: dict[int, float]) -> torch.Tensor:
        out = torch.zeros(1, BINS, dtype=torch.float64)
        for t, p in fractions.items():
            out[0, t] = p
        return out

    counts = TermCounts(
        level=torch.tensor([float(int(bits))], dtype=torch.float64),
        low=row(low),
        high=row(high),
        histogram=True,
        values=4,
    )
    return LayerTerms(counts=counts, bits=torch.tensor([bits], dtype=torch.float32))


# P(t) mixed at α = 0.5: t=0 0.375, t=1 0.375, t=2 0.25. Mean 0.375 + 2·0.25 = 0.875.
# E[max of 2 draws] = P(max ≥ 1) + P(max ≥ 2) = (1 − 0.375²) + (1 − 0.75²) = 1.296875;
# of 8 draws = (1 − 0.375⁸) + (1 − 0.75⁸).
LOW, HIGH = {0: 0.5, 1: 0.5}, {0: 0.25, 1: 0.25, 2: 0.5}
MAX_OF_8 = (1 - 0.375**8) + (1 - 0.75**8)


def test_mean_terms_mix_each_group_with_its_own_alpha() -> None:
    # α = 0.5 and 0.25: 1 + 0.5·1 = 1.5 and 2 + 0.25·2 = 2.5; mean over groups 2.0.
    terms = _means([1.0, 2.0], [2.0, 4.0], [3.5, 3.25])
    value = expected_terms(terms)
    assert value.item() == 2.0 and value.dtype == torch.float32


def test_histograms_give_the_mean_by_default_and_the_lane_maximum_when_asked() -> None:
    terms = _histogram(LOW, HIGH, 3.5)
    assert expected_terms(terms).item() == 0.875
    assert expected_terms(terms, "mean").dtype == torch.float32
    assert expected_terms(terms, "lane_max", 2).item() == 1.296875
    assert expected_terms(terms, "lane_max").item() == pytest.approx(MAX_OF_8, abs=1e-7)


def test_the_lane_maximum_counts_the_top_bin() -> None:
    # All values at BINS − 1 terms: the maximum over any lanes is BINS − 1.
    top = {BINS - 1: 1.0}
    terms = _histogram(top, top, 2.0)
    assert expected_terms(terms, "lane_max", 4).item() == BINS - 1
    assert expected_terms(terms, "mean").item() == BINS - 1


def test_lane_max_without_histograms_is_refused_with_the_fix() -> None:
    message = (
        "statistic 'lane_max' needs the term histograms, but the quantizers recorded means only; "
        "switch counting on with set_term_counting(model, TermsConfig(statistic='lane_max'))"
    )
    with pytest.raises(QuantizationError) as refused:
        expected_terms(_means([1.0], [2.0], [3.0]), "lane_max")
    assert str(refused.value) == message


def _record(weight=None, activation=None, macs=10, wbits=3.5, abits=3.5, name="conv"):
    """A layer's record with hand-made term counts (bits None: that operand stays float)."""
    return LayerBits(
        name=name,
        type="QuantConv2d",
        weight_bits=None if wbits is None else torch.tensor(wbits),
        activation_bits=None if abits is None else torch.tensor(abits),
        weight_elements=4,
        activation_elements=4,
        macs=macs,
        weight_granularity="tensor",
        activation_granularity="tensor",
        weight_terms=weight,
        activation_terms=activation,
    )


W = _means([1.0], [3.0], [3.5])  # 1 + 0.5 · 2 = 2 terms per weight
A = _means([0.5], [1.5], [3.5])  # 0.5 + 0.5 · 1 = 1 term per activation


def test_terms_cost_defaults_to_mean_activation_terms_weighted_by_macs() -> None:
    # (10 · 1 + 30 · 3) / 40 = 2.5: the second layer's activations have 3 terms (2 + 0.5 · 2).
    records = [_record(W, A, macs=10), _record(W, _means([2.0], [4.0], [3.5]), macs=30)]
    assert terms_cost(records).item() == 2.5
    assert terms_cost(records, TermsConfig(serial="weights")).item() == 2.0


def test_both_sides_are_priced_and_a_float_side_is_skipped_not_the_layer() -> None:
    # serial both: (10 · 2 + 10 · 1) / 20 = 1.5.
    assert terms_cost([_record(W, A)], TermsConfig(serial="both")).item() == 1.5
    # weights float: only the activations' 1 term; activations float: only the weights' 2.
    assert terms_cost([_record(None, A, wbits=None)], TermsConfig(serial="both")).item() == 1.0
    assert terms_cost([_record(W, None, abits=None)], TermsConfig(serial="both")).item() == 2.0
    # serial weights with float activations still prices the weights.
    assert terms_cost([_record(W, None, abits=None)], TermsConfig(serial="weights")).item() == 2.0


def test_the_statistic_and_the_lanes_reach_expected_terms() -> None:
    hist = _histogram(LOW, HIGH, 3.5)
    records = [_record(None, hist, macs=1)]
    assert terms_cost(records, TermsConfig(statistic="mean")).item() == 0.875
    lane_max = terms_cost(records, TermsConfig(statistic="lane_max", lanes=2))
    assert lane_max.item() == 1.296875  # a single MAC: divided by 1, not by 2


def test_missing_counts_and_a_config_mismatch_are_named() -> None:
    message = (
        "criterion 'terms' needs the term counts of layer 'conv''s activation quantizer, which "
        "has none: switch counting on with set_term_counting(model, config) "
        "(BitlengthRegularizer(criterion='terms') does it) and run the model on a batch before "
        "computing the cost"
    )
    with pytest.raises(QuantizationError) as missing:
        terms_cost([_record(W, None)])
    assert str(missing.value) == message
    raw = _means([1.0], [2.0], [3.5], centred=False)
    with pytest.raises(QuantizationError) as mismatch:
        terms_cost([_record(W, raw)])
    assert str(mismatch.value) == (
        "layer 'conv''s activation quantizer counted 'naf' terms of raw codes, but the cost asks "
        "for 'naf' terms of centred codes; switch counting on with the same TermsConfig "
        "(set_term_counting(model, config)) and run a forward"
    )
    with pytest.raises(QuantizationError, match="quantizer counted 'naf' terms of centred codes"):
        terms_cost([_record(W, A)], TermsConfig(serial="weights", encoding="binary"))


def test_a_layer_not_yet_run_and_no_quantized_serial_operand_are_named() -> None:
    with pytest.raises(QuantizationError) as unseen:
        terms_cost([_record(W, A, macs=None)])
    assert str(unseen.value) == (
        "criterion 'terms' needs the shapes of layer 'conv' seen in a forward pass; run the "
        "model on a batch before computing the cost"
    )
    with pytest.raises(QuantizationError, match="serial='activations' found no quantized serial"):
        terms_cost([_record(W, None, abits=None)])


def test_with_both_sides_a_missing_count_names_its_side() -> None:
    both = TermsConfig(serial="both")
    with pytest.raises(QuantizationError, match="layer 'conv''s activation quantizer, which has"):
        terms_cost([_record(W, None)], both)
    with pytest.raises(QuantizationError, match="layer 'conv''s weight quantizer, which has"):
        terms_cost([_record(None, A)], both)
