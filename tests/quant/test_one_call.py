"""The one-call quantizer forward (`thrifty.quant.one_call`) equals the step-by-step path.

Every case runs a quantizer module twice from the same state, once through the single kernel
call and once through the step-by-step path (`use_one_call(False)`: clamp, amin/amax, check,
lerp, fused kernel), and compares bit for bit: output, gradients, clamped bitlength, moving
average. Hand-worked cases pin the pieces the kernel does itself: the range of the bit
patterns (signed zeros, subnormals, the largest floats), PyTorch's lerp (both of its formulas),
the clamp of the bitlength, and the errors.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

import thrifty
from thrifty.errors import QuantizationError
from thrifty.quant import one_call
from thrifty.quant.functional import PARALLEL_MIN_VALUES
from thrifty.quant.one_call import one_call_plan, use_one_call


@pytest.fixture
def step_by_step():
    """Run a callable with the one-call path switched off (restored after)."""

    def run(fn, *args):
        previous = use_one_call()
        use_one_call(False)
        try:
            return fn(*args)
        finally:
            use_one_call(previous)

    return run


def _conv(weight: dict | None = None, activation: dict | None = None, **options) -> nn.Module:
    config = thrifty.QuantConfig(weight=weight or {}, activation=activation or {}, **options)
    torch.manual_seed(0)
    return thrifty.quantize(nn.Sequential(nn.Conv2d(4, 6, 3)), config)[0]


def _run(quantizer: nn.Module, x: torch.Tensor, grad: torch.Tensor):
    """Output, x's and the bitlength's gradients, and the quantizer's state after."""
    x = x.clone().requires_grad_(True)
    out = quantizer(x)
    bit_grad = None
    if out.requires_grad:
        out.backward(grad)
        bit_grad = quantizer.bitlength.grad
    state = {key: value.clone() for key, value in quantizer.state_dict().items()}
    return out.detach(), x.grad, bit_grad, state


def _assert_same(a, b) -> None:
    for left, right in zip(a[:3], b[:3], strict=True):
        assert (left is None) == (right is None)
        if left is not None:
            assert torch.equal(left, right)
    assert a[3].keys() == b[3].keys()
    for key in a[3]:
        assert torch.equal(a[3][key], b[3][key]), key


KINDS = ["int", "int_symmetric"]
GRANULARITIES = ["tensor", "channel", ["group", 2]]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("bits", [3.3, 8.0])
def test_weight_quantizer_equals_the_step_by_step_path(
    kind, granularity, bits, step_by_step
) -> None:
    layer = _conv(weight={"kind": kind, "granularity": granularity, "init_bits": bits})
    quantizer = layer.weight_quantizer
    assert one_call_plan(quantizer, layer.weight) is not None
    grad = torch.randn(layer.weight.shape, generator=torch.Generator().manual_seed(1))
    other = copy.deepcopy(quantizer)
    fast = _run(quantizer, layer.weight.detach(), grad)
    slow = step_by_step(_run, other, layer.weight.detach(), grad)
    _assert_same(fast, slow)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("training_range", ["batch", "ema"])
def test_activation_quantizer_equals_the_step_by_step_path_over_batches(
    kind, granularity, training_range, step_by_step
) -> None:
    layer = _conv(
        activation={"kind": kind, "granularity": granularity, "init_bits": 4.6},
        activation_training_range=training_range,
    )
    fast, slow = layer.input_quantizer, copy.deepcopy(layer.input_quantizer)
    generator = torch.Generator().manual_seed(2)
    for batch in range(4):  # the first batch starts the average, later ones blend in
        x = torch.randn(3, 4, 5, 5, generator=generator) * (1 + batch)
        grad = torch.randn(x.shape, generator=generator)
        if batch == 3:  # evaluation: the average's range, values outside it clipped
            fast.eval()
            slow.eval()
        expected = step_by_step(_run, slow, x, grad)
        _assert_same(_run(fast, x, grad), expected)
        fast.bitlength.grad = slow.bitlength.grad = None


def test_leaf_input_levels_equal_the_step_by_step_path(step_by_step) -> None:
    layer = _conv(activation={"init_bits": 5.25})
    other = copy.deepcopy(layer.input_quantizer)
    x = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(3))
    fast = layer.input_quantizer.leaf_levels(x)
    slow = step_by_step(other.leaf_levels, x)
    for left, right in zip(fast, slow, strict=True):
        assert torch.equal(left, right)
    assert torch.equal(layer.input_quantizer.running_hi, other.running_hi)


def test_hand_worked_fractional_output_and_bitlength_gradient() -> None:
    # x in [0, 1], n = 2.5: Q(x, 2) has step 1/3, Q(x, 3) step 1/7, output halfway between
    quantizer = thrifty.quantize(nn.Sequential(nn.Linear(3, 1)))[0].input_quantizer
    with torch.no_grad():
        quantizer.bitlength.fill_(2.5)
    x = torch.tensor([0.0, 0.3, 1.0], requires_grad=True)
    out = quantizer(x)
    third, seventh = np.float32(1.0) / np.float32(3), np.float32(1.0) / np.float32(7)
    q2 = np.float32(1.0) * third  # round(0.3 / (1/3)) = 1
    q3 = np.float32(2.0) * seventh  # round(0.3 / (1/7)) = 2
    middle = q2 + np.float32(0.5) * (q3 - q2)
    assert out.detach().tolist() == [0.0, float(middle), 1.0]
    out.backward(torch.tensor([1.0, 2.0, 1.0]))
    assert quantizer.bitlength.grad.item() == pytest.approx(2.0 * float(q3 - q2), abs=0)
    assert torch.equal(x.grad, torch.tensor([1.0, 2.0, 1.0]))  # straight through


def test_the_range_of_bit_patterns_handles_signed_zeros_subnormals_and_extremes() -> None:
    quantizer = thrifty.quantize(nn.Sequential(nn.Linear(6, 1)))[0].input_quantizer
    largest = float(np.finfo(np.float32).max)
    tiny = float(np.finfo(np.float32).smallest_subnormal)
    cases = [
        [-0.0, 0.0, tiny, -tiny, 0.0, -0.0],
        [largest, -largest, 1.0, -1.0, tiny, 0.0],
        [-5.0, -4.0, -3.0, -2.5, -7.25, -6.0],  # all negative: the key order reversed
        [tiny, 2 * tiny, 3 * tiny, tiny, tiny, tiny],
    ]
    for values in cases:
        quantizer.num_batches_tracked.zero_()
        x = torch.tensor(values)
        quantizer(x)
        assert quantizer.running_lo.item() == min(values)
        assert quantizer.running_hi.item() == max(values)


@pytest.mark.parametrize("momentum", [0.1, 0.75])
def test_moving_average_is_torch_lerp_bit_for_bit(momentum: float) -> None:
    # lerp has two formulas (weight below or above 1/2), each fused: both must match
    config = thrifty.QuantConfig(activation_ema_momentum=momentum)
    quantizer = thrifty.quantize(nn.Sequential(nn.Linear(4, 1)), config)[0].input_quantizer
    generator = torch.Generator().manual_seed(4)
    first = torch.randn(8, 4, generator=generator)
    quantizer(first)
    lo, hi = first.amin().reshape(()), first.amax().reshape(())
    assert torch.equal(quantizer.running_lo, lo) and torch.equal(quantizer.running_hi, hi)
    for _ in range(5):
        x = torch.randn(8, 4, generator=generator) * 3.7
        quantizer(x)
        lo = torch.lerp(lo, x.amin(), momentum)
        hi = torch.lerp(hi, x.amax(), momentum)
        assert torch.equal(quantizer.running_lo, lo)
        assert torch.equal(quantizer.running_hi, hi)
    assert int(quantizer.num_batches_tracked) == 6


def test_bitlength_is_clamped_in_place_and_nan_is_an_error() -> None:
    layer = _conv()
    with torch.no_grad():
        layer.weight_quantizer.bitlength.fill_(float("inf"))
        layer.input_quantizer.bitlength.fill_(-7.0)
    layer(torch.randn(1, 4, 5, 5))
    assert layer.weight_quantizer.bitlength.item() == 16.0
    assert layer.input_quantizer.bitlength.item() == 2.0
    with torch.no_grad():
        layer.input_quantizer.bitlength.fill_(float("nan"))
    with pytest.raises(QuantizationError, match="activation quantizer's bitlength is not"):
        layer(torch.randn(1, 4, 5, 5))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_input_is_an_error_that_leaves_the_average_untouched(bad: float) -> None:
    layer = _conv()
    quantizer = layer.input_quantizer
    layer(torch.randn(1, 4, 5, 5))
    before = {key: value.clone() for key, value in quantizer.state_dict().items()}
    x = torch.randn(1, 4, 5, 5)
    x[0, 2, 1, 3] = bad
    with pytest.raises(QuantizationError, match="layer '0'.*activation quantizer's range"):
        layer(x)
    for key, value in quantizer.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_large_tensors_give_the_same_bits_on_one_and_two_threads() -> None:
    quantizer = thrifty.quantize(nn.Sequential(nn.Linear(8, 1)))[0].input_quantizer
    with torch.no_grad():
        quantizer.bitlength.fill_(3.7)
    x = torch.randn(PARALLEL_MIN_VALUES // 4, 8, generator=torch.Generator().manual_seed(5))
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(6))
    results, before = [], torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        try:
            results.append(_run(copy.deepcopy(quantizer), x, grad))
        finally:
            torch.set_num_threads(before)
    _assert_same(*results)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"weight": {"kind": "float_mantissa", "init_bits": 7}}, "float_mantissa"),
        ({"weight": {"range": "learned"}}, "learned range"),
    ],
)
def test_cases_it_does_not_cover_take_the_step_by_step_path(change, reason) -> None:
    layer = _conv(**change)
    assert one_call_plan(layer.weight_quantizer, layer.weight) is None, reason
    assert one_call_plan(layer.input_quantizer, torch.randn(1, 4, 5, 5)) is not None
    assert one_call_plan(layer.input_quantizer, torch.randn(1, 4, 5, 5).double()) is None
    assert one_call_plan(layer.input_quantizer, torch.empty(0, 4, 5, 5)) is None


def test_switch_is_restored_and_reports_its_state(step_by_step) -> None:
    assert one_call.use_one_call() is True
    assert step_by_step(one_call.use_one_call) is False
    assert one_call.use_one_call() is True


def test_non_contiguous_input_and_inference_mode_equal_the_step_by_step_path(
    step_by_step,
) -> None:
    layer = _conv(activation={"granularity": "channel", "init_bits": 3.5})
    fast, slow = layer.input_quantizer, copy.deepcopy(layer.input_quantizer)
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(5, 5, 4, 3, generator=generator).permute(3, 2, 0, 1)  # (3, 4, 5, 5)
    assert not x.is_contiguous()
    grad = torch.randn(x.shape, generator=generator)
    _assert_same(_run(fast, x, grad), step_by_step(_run, slow, x, grad))
    fast.eval()
    slow.eval()
    with torch.inference_mode():
        got = fast(x)
        expected = step_by_step(slow, x)
    assert torch.equal(got, expected)
