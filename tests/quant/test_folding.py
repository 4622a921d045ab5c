"""Batch-norm folding: the permanent fold (`fold_batchnorm`) and the fused quantized layers of
`quantize(..., QuantConfig(fold_batchnorm=True))`."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import thrifty
import thrifty.trace as tt
from thrifty.errors import QuantizationError
from thrifty.quant import (
    BitlengthRegularizer,
    QuantConfig,
    QuantConv2d,
    QuantConvBn1d,
    QuantConvBn2d,
    dequantize,
    find_conv_bn_pairs,
    fold_batchnorm,
    freeze,
    load,
    quantization_info,
    quantize,
    save,
    summary,
)
from thrifty.quant.functional import int_quantize

OFF = {"enabled": False}


class Net(nn.Module):
    """conv→bn→relu→conv→bn→linear, with the knobs the tests vary."""

    def __init__(self, dims: int = 2, groups: int = 1, bias: bool = True, affine: bool = True):
        super().__init__()
        conv, bn = (nn.Conv2d, nn.BatchNorm2d) if dims == 2 else (nn.Conv1d, nn.BatchNorm1d)
        self.conv1 = conv(4, 8, 3, padding=1, groups=groups, bias=bias)
        self.bn1 = bn(8, affine=affine)
        self.conv2 = conv(8, 6, 3, groups=2, bias=not bias)
        self.bn2 = bn(6, momentum=None)  # cumulative average: a different update rule
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        return self.fc(x.flatten(2).mean(2))


def _trained_stats(model: nn.Module, shape: tuple[int, ...], seed: int) -> nn.Module:
    """Give the batch norms non-trivial statistics and affine parameters."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(shape) * 2 + 0.5)
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
                module.weight.uniform_(-1.5, 1.5)  # negative γ too
                module.bias.uniform_(-1, 1)
    return model


CASES = [
    (seed, dims, groups, bias, affine)
    for seed, (dims, groups, bias, affine) in enumerate(
        [(2, 1, True, True), (2, 2, False, True), (1, 4, True, False), (1, 1, False, True)]
    )
]


def _shape(dims: int) -> tuple[int, ...]:
    return (5, 4, 9, 7) if dims == 2 else (5, 4, 11)


@pytest.mark.parametrize(("seed", "dims", "groups", "bias", "affine"), CASES)
def test_folded_float_model_equals_the_unfolded_one_in_eval(seed, dims, groups, bias, affine):
    model = _trained_stats(Net(dims, groups, bias, affine), _shape(dims), seed).eval()
    x = torch.randn(_shape(dims))
    folded = fold_batchnorm(copy.deepcopy(model))
    assert isinstance(folded.bn1, nn.Identity) and isinstance(folded.bn2, nn.Identity)
    assert type(folded.conv1) is type(model.conv1)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize(("seed", "dims", "groups", "bias", "affine"), CASES)
def test_fused_layers_with_quantizers_off_train_and_evaluate_like_batch_norm(
    seed, dims, groups, bias, affine
):
    model = _trained_stats(Net(dims, groups, bias, affine), _shape(dims), seed).train()
    fused = quantize(
        copy.deepcopy(model), QuantConfig(fold_batchnorm=True, weight=OFF, activation=OFF)
    )
    assert isinstance(fused.conv1, QuantConvBn2d if dims == 2 else QuantConvBn1d)
    for step in range(3):  # training: outputs and running statistics as the unfolded model
        x = torch.randn(_shape(dims)) + step
        torch.testing.assert_close(fused(x), model(x), atol=1e-5, rtol=1e-5)
    # the first batch norm sees the same input bit for bit, the second one the first's output
    # (equal up to rounding): exact, then float32-close
    for mine, theirs, tol in ((fused.conv1.bn, model.bn1, 0), (fused.conv2.bn, model.bn2, 1e-6)):
        torch.testing.assert_close(mine.running_mean, theirs.running_mean, atol=tol, rtol=tol)
        torch.testing.assert_close(mine.running_var, theirs.running_var, atol=tol, rtol=tol)
        assert int(mine.num_batches_tracked) == int(theirs.num_batches_tracked) == 6
    fused.eval(), model.eval()
    x = torch.randn(_shape(dims))
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), atol=2e-6, rtol=1e-5)


def test_running_statistics_follow_the_quantized_input_exactly():
    """With the input quantizer on, the batch norm sees conv(x_q, W) + b: the statistics equal
    those of the unfolded quantized model (weights unquantized) bit for bit."""
    model = _trained_stats(Net(), _shape(2), 0).train()
    config = {"weight": OFF}
    fused = quantize(copy.deepcopy(model), QuantConfig(fold_batchnorm=True, **config))
    plain = quantize(copy.deepcopy(model), QuantConfig(**config))
    for _ in range(2):
        x = torch.randn(_shape(2))
        fused(x), plain(x)
    torch.testing.assert_close(fused.conv1.bn.running_var, plain.bn1.running_var, atol=0, rtol=0)
    torch.testing.assert_close(fused.conv1.bn.running_mean, plain.bn1.running_mean, atol=0, rtol=0)


def test_the_quantized_weight_is_the_folded_one():
    model = _trained_stats(Net(), _shape(2), 1)
    fused = quantize(model, QuantConfig(fold_batchnorm=True, weight={"init_bits": 3}))
    fused.train()(torch.randn(_shape(2)))
    freeze(fused).eval()
    seen = {}
    fused.conv1.operand_tap.register_forward_hook(lambda m, a, o: seen.update(w=a[1].detach()))
    fused(torch.randn(_shape(2)))
    bn, conv = fused.conv1.bn, fused.conv1
    folded = conv.weight * (bn.weight / torch.sqrt(bn.running_var + bn.eps)).reshape(-1, 1, 1, 1)
    folded = folded.detach()
    expected = int_quantize(folded, torch.tensor(3.0), folded.min(), folded.max())
    torch.testing.assert_close(seen["w"], expected, atol=0, rtol=0)
    assert len(torch.unique(seen["w"])) <= 8
    # the permanent fold gives the same evaluation output, bit for bit
    x = torch.randn(_shape(2))
    permanent = fold_batchnorm(copy.deepcopy(fused))
    assert type(permanent.conv1) is QuantConv2d and isinstance(permanent.bn1, nn.Identity)
    with torch.no_grad():
        torch.testing.assert_close(permanent(x), fused(x), atol=0, rtol=0)


def test_learned_bitlength_machinery_works_on_fused_layers(tmp_path):
    torch.manual_seed(3)
    model = quantize(_trained_stats(Net(), _shape(2), 3), QuantConfig(fold_batchnorm=True))
    model.train()
    reg = BitlengthRegularizer(model, criterion="memory", strength=1.0)
    x = torch.randn(_shape(2))
    (model(x).square().mean() + reg()).backward()
    for name in ("conv1", "conv2"):
        layer = model.get_submodule(name)
        assert layer.weight_quantizer.bitlength.grad is not None
        assert layer.weight.grad is not None and layer.bn.weight.grad is not None
    freeze(model)
    table = summary(model)
    assert [r.type for r in table.records] == ["QuantConvBn2d", "QuantConvBn2d", "QuantLinear"]
    assert table.memory_weighted_bits == 8.0
    info = quantization_info(model)
    assert [(p.conv, p.bn, p.method) for p in info.folded] == [
        ("conv1", "bn1", "fx"),
        ("conv2", "bn2", "fx"),
    ]
    model.eval()
    expected = model(x)
    path = save(model, tmp_path / "m.pt")
    loaded = load(Net(), path).eval()
    torch.testing.assert_close(loaded(x), expected, atol=0, rtol=0)
    assert loaded.conv1.weight_quantizer.frozen
    # trace capture sees the folded, quantized weight at the operand tap
    loaded.train()
    seen = {}
    loaded.conv2.operand_tap.register_forward_hook(lambda m, a, o: seen.update(w=a[1].detach()))
    with tt.capture(loaded, tmp_path / "t"):
        loaded(x).square().sum().backward()
    entries = {(e.layer, e.op): e for e in tt.open(tmp_path / "t")}
    weight = entries[("conv2", "forward")].tensors["weight"]
    torch.testing.assert_close(weight, seen["w"], atol=0, rtol=0)
    assert not torch.equal(weight, loaded.conv2.weight.detach())
    # and the way back puts each batch norm where it was
    back = dequantize(loaded)
    assert type(back.conv1) is nn.Conv2d and type(back.bn1) is nn.BatchNorm2d


class Branchy(nn.Module):
    """Data-dependent control flow (fx cannot trace it) around an nn.Sequential pair, plus a
    batch norm that reads a sum: only the Sequential pair can be found."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        if y.sum() > 0:
            y = y + 1
        return self.fc(self.bn(y).mean((2, 3)))


def test_untraceable_models_fall_back_to_sequential_order_and_say_what_is_left():
    pairs, unfolded = find_conv_bn_pairs(Branchy())
    assert [(p.conv, p.bn, p.method) for p in pairs] == [("block.0", "block.1", "sequential")]
    assert [u.name for u in unfolded] == ["bn"] and "cannot trace" in unfolded[0].reason
    with pytest.warns(UserWarning, match=r"left these batch norms unfolded, in float: 'bn': "):
        model = quantize(Branchy(), QuantConfig(fold_batchnorm=True))
    assert isinstance(model.block[0], QuantConvBn2d) and isinstance(model.block[1], nn.Identity)


def test_what_cannot_be_folded_is_refused_by_name():
    with pytest.raises(QuantizationError, match=r"no foldable .*\(batch norms found: none\)"):
        quantize(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), QuantConfig(fold_batchnorm=True))
    shared = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False))
    with pytest.raises(QuantizationError, match=r"'1': it keeps no running statistics"):
        quantize(shared, QuantConfig(fold_batchnorm=True))
    quantized = quantize(Net())
    with pytest.raises(QuantizationError, match=r"'bn1' follows layer 'conv1', which was quant"):
        fold_batchnorm(quantized)


def test_thrifty_reexports_fold_batchnorm():
    assert thrifty.fold_batchnorm is fold_batchnorm


def test_integer_inference_reads_folded_layers_and_refuses_fused_ones():
    """The integer forward pass multiplies a layer's `weight`: a fused layer multiplies the
    folded one instead, so it is refused until `fold_batchnorm` made the fold permanent."""
    from thrifty.errors import SimulationError
    from thrifty.hw.sim.integer_forward import integer_forward

    model = quantize(_trained_stats(Net(), _shape(2), 4), QuantConfig(fold_batchnorm=True))
    model.train()(torch.randn(_shape(2)))
    freeze(model).eval()
    x = torch.randn(_shape(2))
    with pytest.raises(SimulationError, match=r"layer 'conv1' \(QuantConvBn2d\) still holds"):
        integer_forward(model, x)
    folded = integer_forward(fold_batchnorm(copy.deepcopy(model)), x)
    with torch.no_grad():
        torch.testing.assert_close(folded.reference, model(x), atol=0, rtol=0)
    assert all(r.max_abs_error <= 1e-3 * max(r.max_abs_output, 1.0) for r in folded.layers)
