"""Criterion "terms": its value against hand-counted terms, its gradient, its options, its errors.

Hand counts (NAF, non-zero digits): 0 → 0; 1, 2, 4 → 1; 3 = 4 − 1, 5 = 4 + 1, 6 = 8 − 2,
7 = 8 − 1, 9 = 8 + 1 → 2; 11 = 16 − 4 − 1, 13 = 16 − 4 + 1 → 3; 15 = 16 − 1 → 2.

The input row 0, 1, ..., 7 of a Linear(8, 1) has the batch range [0, 7], so its codes are
round(x·(2^b − 1)/7):
  b = 1: 0 0 0 0 1 1 1 1          → 4 terms   (mean 4/8)
  b = 2: 0 0 1 1 2 2 3 3          → 8 terms   (mean 8/8)
  b = 3: 0 1 2 3 4 5 6 7          → 11 terms  (mean 11/8)
  b = 4: 0 2 4 6 9 11 13 15       → 14 terms  (mean 14/8)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import thrifty
from thrifty.errors import ConfigError, QuantizationError
from thrifty.numerics.terms import term_count
from thrifty.quant.costs import layer_bits, set_term_counting, terms_cost
from thrifty.quant.functional import use_kernels
from thrifty.quant.term_counts import TermCounting, count_terms
from thrifty.train.config import load_train_config

ROW = torch.arange(8, dtype=torch.float32).reshape(1, 8)
MEAN_TERMS = {1: 4 / 8, 2: 8 / 8, 3: 11 / 8, 4: 14 / 8}


def _linear(in_features: int, activation: dict, weight: dict | None = None) -> nn.Module:
    torch.manual_seed(0)
    config = thrifty.QuantConfig.model_validate(
        {"weight": weight or {}, "activation": {"min_bits": 1, **activation}}
    )
    return thrifty.quantize(nn.Sequential(nn.Linear(in_features, 1)), config)


def _cost(model: nn.Module, x: torch.Tensor, bits: float, **options) -> torch.Tensor:
    reg = thrifty.BitlengthRegularizer(model, criterion="terms", terms=options or None)
    with torch.no_grad():
        model[0].input_quantizer.bitlength.fill_(bits)
    model(x)
    return reg.cost_tensor()


@pytest.mark.parametrize("kernels", [True, False])
@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_value_equals_hand_counted_naf_terms_of_the_codes(bits: int, kernels: bool) -> None:
    previous = use_kernels()
    try:
        use_kernels(kernels)
        cost = _cost(_linear(8, {}), ROW, float(bits))
    finally:
        use_kernels(previous)
    assert cost.item() == MEAN_TERMS[bits]


def test_negative_codes_count_by_magnitude() -> None:
    # symmetric, range max |x| = 7, b = 4: step 7/7 = 1, codes = the values themselves
    x = torch.tensor([[-7.0, -3.0, 0.0, 3.0, 7.0, -1.0]])
    cost = _cost(_linear(6, {"kind": "int_symmetric", "min_bits": 2}), x, 4.0)
    assert cost.item() == (2 + 2 + 0 + 2 + 2 + 1) / 6


def test_asymmetric_codes_are_centred_on_the_zero_point() -> None:
    # range [-3, 4], b = 3: step 1, zero point 3; codes 0..7 centre to -3..4 (x itself)
    x = torch.tensor([[-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0]])
    cost = _cost(_linear(8, {}), x, 3.0)
    assert cost.item() == (2 + 1 + 1 + 0 + 1 + 1 + 2 + 1) / 8


@pytest.mark.parametrize("kernels", [True, False])
def test_raw_codes_option_counts_the_codes_as_the_quantizer_emits_them(kernels: bool) -> None:
    # range [-3, 4], b = 3: raw codes 0..7 (11 NAF terms), centred -3..4 (9 terms)
    x = torch.tensor([[-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0]])
    previous = use_kernels()
    try:
        use_kernels(kernels)
        assert _cost(_linear(8, {}), x, 3.0, codes="raw").item() == 11 / 8
        assert _cost(_linear(8, {}), x, 3.0, codes="centred").item() == 9 / 8
        # a range starting at 0: the two agree
        assert _cost(_linear(8, {}), ROW, 3.0, codes="raw").item() == MEAN_TERMS[3]
    finally:
        use_kernels(previous)


@pytest.mark.parametrize("kernels", [True, False])
def test_float_mantissa_counts_the_rounded_significand_with_its_hidden_bit(kernels: bool) -> None:
    # significands rounded (to nearest, ties to even):
    #  k = 1: 1.0→m=2 (1), 1.5→3 (2), 1.75→2.0: m=2 (1), 3.0→3 (2), -7.0→8.0: m=2 (1), 0 → 7
    #  k = 2: 1.0→4 (1), 1.5→6 (2), 1.75→7 (2), 3.0→6 (2), -7.0→7 (2), 0 → 9
    x = torch.tensor([[1.0, 1.5, 1.75, 3.0, -7.0, 0.0]])
    previous = use_kernels()
    try:
        use_kernels(kernels)
        model = _linear(6, {"kind": "float_mantissa", "min_bits": 0})
        assert _cost(model, x, 1.0).item() == pytest.approx(7 / 6, abs=0, rel=1e-7)
        assert _cost(model, x, 2.0).item() == pytest.approx(9 / 6, abs=0, rel=1e-7)
        assert _cost(model, x, 1.5).item() == pytest.approx(8 / 6, abs=0, rel=1e-7)
    finally:
        use_kernels(previous)


def _cost_and_grad(model: nn.Module, reg, bits: float) -> tuple[float, float]:
    quantizer = model[0].input_quantizer
    with torch.no_grad():
        quantizer.bitlength.fill_(bits)
    quantizer.bitlength.grad = None
    model(ROW)
    cost = reg.cost_tensor()
    cost.backward()
    return cost.item(), quantizer.bitlength.grad.item()


@pytest.mark.parametrize("boundary", [2, 3])
def test_gradient_matches_finite_differences_across_an_integer_boundary(boundary: int) -> None:
    model = _linear(8, {})
    reg = thrifty.BitlengthRegularizer(model, criterion="terms")
    below, above = boundary - 0.1, boundary + 0.1
    h = 0.05
    for at in (below, above):
        _, grad = _cost_and_grad(model, reg, at)
        fd = (_cost_and_grad(model, reg, at + h)[0] - _cost_and_grad(model, reg, at - h)[0]) / (
            2 * h
        )
        level = int(at)
        assert grad == pytest.approx(MEAN_TERMS[level + 1] - MEAN_TERMS[level], rel=1e-6)
        assert grad == pytest.approx(fd, rel=1e-4)
    # continuous through the boundary: the two sides meet at terms(boundary)
    left = _cost_and_grad(model, reg, boundary - 1e-4)[0]
    at_boundary = _cost_and_grad(model, reg, float(boundary))[0]
    assert at_boundary == MEAN_TERMS[boundary]
    assert left == pytest.approx(at_boundary, abs=1e-4)


def test_counts_come_from_the_forward_and_carry_no_gradient_but_the_bitlength() -> None:
    model = _linear(8, {})
    reg = thrifty.BitlengthRegularizer(model, criterion="terms")
    with pytest.raises(QuantizationError, match="run the model on a batch"):
        reg.cost_tensor()
    model(ROW)
    counts = model[0].input_quantizer.term_counts
    assert not counts.low.requires_grad and not counts.high.requires_grad
    assert model[0].weight_quantizer.term_counts is None  # serial: activations only
    reg.close()
    model(ROW)
    assert model[0].input_quantizer.term_counts is None


def test_serial_weights_and_both_price_the_operands_they_name() -> None:
    # weight row 0..7 of a Linear(8, 1) with the weight range [0, 7] at b = 3: 11/8
    model = _linear(8, {"enabled": True}, weight={"init_bits": 3})
    with torch.no_grad():
        model[0].weight.copy_(ROW)
        model[0].input_quantizer.bitlength.fill_(1.0)
    activation_only = thrifty.BitlengthRegularizer(model, criterion="terms")
    model(ROW)
    assert activation_only.cost_tensor().item() == MEAN_TERMS[1]
    weights = thrifty.BitlengthRegularizer(model, criterion="terms", terms={"serial": "weights"})
    model(ROW)
    assert weights.cost_tensor().item() == MEAN_TERMS[3]
    both = thrifty.BitlengthRegularizer(model, criterion="terms", terms={"serial": "both"})
    model(ROW)
    assert both.cost_tensor().item() == (MEAN_TERMS[1] + MEAN_TERMS[3]) / 2


def _independent_mean_terms(x: torch.Tensor, bits: int, encoding: str = "naf") -> float:
    """NAF terms of the centred asymmetric codes, counted with numpy from the formula."""
    x = x.detach()
    lo, hi = float(x.min()), float(x.max())
    step = np.float32(hi - lo) / np.float32(2**bits - 1)
    codes = np.rint((x.detach().numpy() - np.float32(lo)) / step)
    zero = min(max(np.rint(np.float32(-lo) / step), 0), 2**bits - 1)
    return float(term_count(np.abs(codes - zero).astype(np.int64), encoding).mean())


def test_layers_are_weighted_by_macs() -> None:
    torch.manual_seed(0)
    config = thrifty.QuantConfig.model_validate({"activation": {"init_bits": 3}})
    model = thrifty.quantize(nn.Sequential(nn.Linear(8, 3), nn.Linear(3, 1)), config)
    reg = thrifty.BitlengthRegularizer(model, criterion="terms")
    hidden = model[0](ROW)
    model[1](hidden)
    first, second = MEAN_TERMS[3], _independent_mean_terms(hidden, 3)
    expected = (24 * first + 3 * second) / 27  # MACs 24 and 3
    assert reg.cost_tensor().item() == pytest.approx(expected, rel=1e-6)


def test_encoding_option_changes_the_count() -> None:
    # plain binary: popcounts of 0..7 are 0 1 1 2 1 2 2 3 → 12/8 (NAF: 11/8)
    cost = _cost(_linear(8, {}), ROW, 3.0, encoding="binary")
    assert cost.item() == 12 / 8


def test_lane_max_is_the_expected_maximum_over_independent_lanes() -> None:
    # terms at b = 3: P(0) = 1/8, P(1) = 3/8, P(2) = 4/8; F(0) = 1/8, F(1) = 1/2
    # E[max of 2] = (1 − (1/8)²) + (1 − (1/2)²) = 63/64 + 3/4
    two = _cost(_linear(8, {}), ROW, 3.0, statistic="lane_max", lanes=2)
    assert two.item() == pytest.approx(63 / 64 + 3 / 4, rel=1e-6)
    one = _cost(_linear(8, {}), ROW, 3.0, statistic="lane_max", lanes=1)
    assert one.item() == pytest.approx(MEAN_TERMS[3], rel=1e-6)  # one lane: the mean


def test_lane_max_gradient_matches_finite_differences() -> None:
    model = _linear(8, {})
    reg = thrifty.BitlengthRegularizer(
        model, criterion="terms", terms={"statistic": "lane_max", "lanes": 8}
    )
    _, grad = _cost_and_grad(model, reg, 2.5)
    h = 1e-3
    fd = (_cost_and_grad(model, reg, 2.5 + h)[0] - _cost_and_grad(model, reg, 2.5 - h)[0]) / (2 * h)
    assert grad == pytest.approx(fd, rel=1e-3)
    assert grad > 0


@pytest.mark.parametrize("encoding", ["naf", "binary", "booth4"])
@pytest.mark.parametrize("kind", ["int", "int_symmetric"])
def test_kernel_counts_of_wide_codes_equal_numpy_term_counts(kind: str, encoding: str) -> None:
    # 15- and 16-bit codes: every byte of the magnitude holds terms (a popcount that only
    # looked at the low byte, or wrapped wrongly, would differ)
    torch.manual_seed(1)
    x = torch.randn(1, 4000)
    lo, hi = x.amin().reshape(1, 1), x.amax().reshape(1, 1)
    n = torch.tensor([[15.0]])
    counting = TermCounting(encoding)
    counts = count_terms(x, n, lo, hi, kind, False, counting)
    for bits, mean in ((15, counts.low), (16, counts.high)):
        if kind == "int":
            expected = _independent_mean_terms(x, bits, encoding)
        else:
            step = np.float32(float(x.abs().max())) / np.float32(2 ** (bits - 1) - 1)
            codes = np.rint(x.numpy() / step).astype(np.int64)
            expected = float(term_count(np.abs(codes), encoding).mean())
        assert mean.item() == pytest.approx(expected, rel=1e-12)
        assert mean.item() > 3.0  # wide codes: many terms per value


def test_kernel_and_torch_paths_agree_on_channel_and_group_layouts() -> None:
    torch.manual_seed(3)
    config = thrifty.QuantConfig.model_validate(
        {
            "weight": {"granularity": ["group", 9], "kind": "int_symmetric"},
            "activation": {"granularity": "channel"},
        }
    )
    model = thrifty.quantize(
        nn.Sequential(nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Conv2d(6, 2, 3)), config
    )
    with torch.no_grad():
        for _, layer in thrifty.quant.quantized_layers(model):
            for q in (layer.weight_quantizer, layer.input_quantizer):
                q.bitlength.uniform_(2.0, 15.0)
    x = torch.randn(3, 4, 8, 8)
    results = []
    previous = use_kernels()
    try:
        for kernels in (True, False):
            use_kernels(kernels)
            for statistic in ("mean", "lane_max"):
                set_term_counting(model, thrifty.TermsConfig(serial="both", statistic=statistic))
                model(x)
                records = layer_bits(model)
                results.append(
                    [
                        (t.counts.low, t.counts.high)
                        for r in records
                        for t in (r.weight_terms, r.activation_terms)
                    ]
                )
    finally:
        use_kernels(previous)
    for kernel, torch_path in ((results[0], results[2]), (results[1], results[3])):
        for (a_low, a_high), (b_low, b_high) in zip(kernel, torch_path, strict=True):
            torch.testing.assert_close(a_low, b_low, atol=0, rtol=0)
            torch.testing.assert_close(a_high, b_high, atol=0, rtol=0)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"serial": "inputs"}, "serial"),
        ({"lanes": 0}, "lanes"),
        ({"statistic": "max"}, "statistic"),
        ({"encoding": "csd"}, "encoding"),
        ({"codes": "signed"}, "codes"),
        ({"lane": 8}, "unknown key 'lane'"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        thrifty.BitlengthRegularizer(_linear(8, {}), criterion="terms", terms=options)


def test_options_without_the_terms_criterion_are_refused() -> None:
    with pytest.raises(ConfigError, match="criterion='terms'"):
        thrifty.BitlengthRegularizer(_linear(8, {}), criterion="bits", terms={"lanes": 4})
    with pytest.raises(ConfigError, match="regularizer.criterion=terms"):
        load_train_config(overrides=["regularizer.terms.lanes=4"])


def test_train_config_accepts_the_criterion_and_its_options() -> None:
    config = load_train_config(
        overrides=["regularizer.criterion=terms", "regularizer.terms.serial=weights"]
    )
    assert config.regularizer.terms == thrifty.TermsConfig(serial="weights")


def test_a_float_serial_operand_is_not_priced() -> None:
    model = _linear(8, {"enabled": False})
    reg = thrifty.BitlengthRegularizer(model, criterion="terms")
    model(ROW)
    with pytest.raises(QuantizationError, match="no quantized serial operand"):
        reg.cost_tensor()


def test_a_cost_asked_in_another_encoding_than_counted_is_refused() -> None:
    model = _linear(8, {})
    thrifty.BitlengthRegularizer(model, criterion="terms")  # counts NAF terms
    model(ROW)
    with pytest.raises(QuantizationError, match="counted 'naf' terms of centred codes, but"):
        terms_cost(layer_bits(model), thrifty.TermsConfig(encoding="binary"))


def test_a_quantized_matmul_prices_its_left_operand_as_activations_and_right_as_weights() -> None:
    from thrifty.quant.matmul import MatMul

    class Product(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.mm = MatMul()

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return self.fc(self.mm(a, b))

    config = thrifty.QuantConfig.model_validate(
        {"quantize_matmul": True, "activation": {"init_bits": 3}}
    )
    model = thrifty.quantize(Product(), config)
    reg = thrifty.BitlengthRegularizer(model, criterion="terms", terms={"serial": "weights"})
    a = ROW.reshape(1, 8, 1).expand(1, 8, 8).contiguous()  # A: every value 0..7
    b = torch.ones(1, 8, 8) * ROW.reshape(1, 8, 1) / 7  # B: range [0, 1] at 3 bits → codes 0..7
    model(a, b)
    records = {r.name: r for r in layer_bits(model)}
    assert records["mm"].weight_terms.counts.low.item() == MEAN_TERMS[3]
    assert records["mm"].activation_terms is None  # serial weights: A is not counted
    assert reg.cost_tensor().item() > 0
