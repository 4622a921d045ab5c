"""quantize() and the quantized modules: swapping, shapes per granularity, EMA ranges, clamping,
errors, freeze, param_groups, state round-trip, save/load, summary, operand tap."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

import thrifty
from thrifty.errors import CheckpointError, QuantizationError
from thrifty.models import build_model
from thrifty.quant import (
    QUANTIZED_MODULE_TYPES,
    QuantConv1d,
    QuantConv2d,
    QuantLinear,
    dequantize,
    quantization_info,
)
from thrifty.quant.functional import int_quantize
from thrifty.quant.quantize import DEFAULT_BITS_LR


def _net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(4, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise
        nn.Conv2d(8, 12, 1, groups=2),  # grouped
        nn.Flatten(),
        nn.Linear(12 * 5 * 5, 6),
    )


def test_quantize_swaps_layers_in_place_and_reuses_parameters() -> None:
    model = _net()
    weight = model[0].weight
    keys = set(model.state_dict())
    returned = thrifty.quantize(model)
    assert returned is model
    assert [type(model[i]) for i in (0, 2, 3, 5)] == [
        QuantConv2d,
        QuantConv2d,
        QuantConv2d,
        QuantLinear,
    ]
    assert isinstance(model[0], nn.Conv2d) and model[0].weight is weight
    assert keys < set(model.state_dict())
    assert "0.weight_quantizer.bitlength" in model.state_dict()
    assert "0.input_quantizer.running_lo" in model.state_dict()
    assert model(torch.randn(2, 4, 5, 5)).shape == (2, 6)
    assert quantization_info(model).quantized == ["0", "2", "3", "5"]


def test_conv1d_and_resnet20_quantize() -> None:
    model = nn.Sequential(nn.Conv1d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6, 2))
    thrifty.quantize(model)
    assert isinstance(model[0], QuantConv1d)
    assert model(torch.randn(5, 3, 8)).shape == (5, 2)
    resnet = thrifty.quantize(build_model("resnet20", in_channels=3, image_size=32))
    assert sum(isinstance(m, QUANTIZED_MODULE_TYPES) for m in resnet.modules()) == 22


@pytest.mark.parametrize(
    ("granularity", "weight_shape", "activation_shape"),
    [
        ("tensor", (), ()),
        ("channel", (8,), (4,)),
        (["group", 2], (8, 18), (2,)),
    ],
)
def test_bit_shapes_follow_the_granularity(granularity, weight_shape, activation_shape) -> None:
    config = thrifty.QuantConfig.model_validate(
        {
            "weight": {"granularity": granularity},
            "activation": {"granularity": granularity},
            "exclude": ["2", "3", "5"],
        }
    )
    model = thrifty.quantize(_net(), config)
    assert model[0].weight_quantizer.bits.shape == weight_shape
    assert model[0].input_quantizer.bits.shape == activation_shape
    x = torch.randn(3, 4, 5, 5)
    out = model[0](x)
    out.sum().backward()
    assert model[0].weight_quantizer.bits.grad.shape == weight_shape
    assert model[0].input_quantizer.bits.grad.shape == activation_shape


def test_per_channel_weight_uses_each_channels_range_exactly() -> None:
    config = thrifty.QuantConfig.model_validate(
        {"weight": {"granularity": "channel", "init_bits": 3}, "exclude": ["2", "3", "5"]}
    )
    model = thrifty.quantize(_net(), config)
    seen = {}
    model[0].operand_tap.register_forward_hook(lambda m, args, out: seen.update(w=out[1]))
    model[0](torch.randn(1, 4, 5, 5))
    w = model[0].weight.detach().reshape(8, -1)
    expected = int_quantize(w, torch.tensor(3.0), w.amin(1, keepdim=True), w.amax(1, keepdim=True))
    assert torch.equal(seen["w"].reshape(8, -1), expected)


def test_linear_groups_split_input_features() -> None:
    config = thrifty.QuantConfig.model_validate({"activation": {"granularity": ["group", 4]}})
    model = thrifty.quantize(nn.Sequential(nn.Linear(8, 3)), config)
    x = torch.randn(5, 8)
    x[:, :4] *= 100
    seen = {}
    model[0].operand_tap.register_forward_hook(lambda m, args, out: seen.update(x=out[0]))
    model(x)
    first = int_quantize(x[:, :4], torch.tensor(8.0), x[:, :4].min(), x[:, :4].max())
    assert torch.equal(seen["x"][:, :4], first)


def test_activation_ranges_batch_in_training_ema_in_eval() -> None:
    model = thrifty.quantize(nn.Sequential(nn.Linear(4, 2)))
    quantizer = model[0].input_quantizer
    model(torch.full((2, 4), 1.0) * torch.tensor([0.0, 1.0]).view(2, 1))  # range [0, 1]
    model(torch.tensor([[0.0] * 4, [3.0] * 4]))  # range [0, 3]
    assert quantizer.running_hi.item() == pytest.approx(1.0 + 0.1 * (3.0 - 1.0))
    assert int(quantizer.num_batches_tracked) == 2
    model.eval()
    seen = {}
    model[0].operand_tap.register_forward_hook(lambda m, args, out: seen.update(x=out[0]))
    model(torch.tensor([[5.0, 0.5, 0.0, 1.0]]))
    assert seen["x"].max().item() == pytest.approx(1.2)  # clipped to the EMA range


def test_ema_training_range_quantizes_against_the_updated_average() -> None:
    config = thrifty.QuantConfig(activation_training_range="ema")
    model = thrifty.quantize(nn.Sequential(nn.Linear(4, 2)), config)
    quantizer = model[0].input_quantizer
    seen = {}
    model[0].operand_tap.register_forward_hook(lambda m, args, out: seen.update(x=out[0]))
    first = torch.tensor([[0.0, 0.25, 0.5, 1.0]])
    model(first)  # the first batch starts the average: its own range [0, 1]
    eight = torch.tensor(8.0)
    expected = int_quantize(first, eight, torch.tensor(0.0), torch.tensor(1.0))
    torch.testing.assert_close(seen["x"], expected, atol=0, rtol=0)
    second = torch.tensor([[0.0, 1.0, 2.0, 3.0]])  # batch range [0, 3], average [0, 1.2]
    model(second)
    assert quantizer.running_hi.item() == pytest.approx(1.2)
    expected = int_quantize(second, eight, quantizer.running_lo, quantizer.running_hi, clamp=True)
    torch.testing.assert_close(seen["x"], expected, atol=0, rtol=0)
    assert seen["x"].max().item() == pytest.approx(1.2)  # clipped to the average, in training


def test_bits_are_clamped_after_an_optimizer_step() -> None:
    model = thrifty.quantize(nn.Sequential(nn.Linear(4, 2)))
    with torch.no_grad():
        model[0].weight_quantizer.bitlength.fill_(-3.0)
        model[0].input_quantizer.bitlength.fill_(40.0)
    model(torch.randn(2, 4))
    assert model[0].weight_quantizer.bits.item() == 2.0
    assert model[0].input_quantizer.bits.item() == 16.0


def test_freeze_rounds_up_and_stops_learning() -> None:
    model = thrifty.quantize(_net())
    with torch.no_grad():
        model[0].weight_quantizer.bitlength.fill_(4.2)
    thrifty.freeze(model)
    assert model[0].weight_quantizer.bits.item() == 5.0
    assert all(
        m.weight_quantizer.frozen for m in model.modules() if isinstance(m, QUANTIZED_MODULE_TYPES)
    )
    groups = thrifty.param_groups(model, lr=0.1)
    assert [g["name"] for g in groups] == ["weights"]


def test_param_groups_put_bits_apart_with_their_own_rate_and_no_decay() -> None:
    model = thrifty.quantize(_net())
    groups = thrifty.param_groups(model, lr=0.01, weight_decay=1e-4)
    weights, bits = groups
    assert bits["lr"] == DEFAULT_BITS_LR == 0.03 and bits["weight_decay"] == 0.0
    # The default bitlength rate does not follow the weights' rate; an explicit one wins.
    assert thrifty.param_groups(model, lr=1e-5)[1]["lr"] == DEFAULT_BITS_LR
    assert thrifty.param_groups(model, lr=1e-5, bits_lr=0.3)[1]["lr"] == 0.3
    assert weights["weight_decay"] == 1e-4
    assert len(bits["params"]) == 8
    assert len(weights["params"]) + len(bits["params"]) == len(list(model.parameters()))
    torch.optim.SGD(groups, lr=0.01)  # any optimizer accepts them


def test_state_dict_round_trips_bits_and_ranges_exactly(tmp_path) -> None:
    model = thrifty.quantize(
        _net(), thrifty.QuantConfig.model_validate({"weight": {"granularity": "channel"}})
    )
    with torch.no_grad():
        model[0].weight_quantizer.bitlength.uniform_(3, 7)
    model(torch.randn(2, 4, 5, 5))
    clone = thrifty.quantize(
        _net(), thrifty.QuantConfig.model_validate({"weight": {"granularity": "channel"}})
    )
    clone.load_state_dict(model.state_dict())
    for key, value in model.state_dict().items():
        assert torch.equal(value, clone.state_dict()[key]), key
    model.eval(), clone.eval()
    x = torch.randn(2, 4, 5, 5)
    assert torch.equal(model(x), clone(x))

    thrifty.freeze(model)
    path = thrifty.save(model, tmp_path / "q.pt")
    loaded = thrifty.load(_net(), path)
    loaded.eval()
    assert torch.equal(model(x), loaded(x))
    assert loaded[0].weight_quantizer.frozen
    assert loaded[0].weight_quantizer.config.granularity.kind == "channel"


def test_load_rejects_bad_files(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        thrifty.load(_net(), tmp_path / "missing.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a thrifty"):
        thrifty.load(_net(), tmp_path / "other.pt")
    thrifty.save(thrifty.quantize(_net()), tmp_path / "q.pt")
    with pytest.raises(CheckpointError, match="does not match"):
        thrifty.load(nn.Sequential(nn.Linear(3, 2)), tmp_path / "q.pt")


def test_summary_records_means_table_and_dict() -> None:
    model = thrifty.quantize(_net(), thrifty.QuantConfig.model_validate({"exclude": ["@last"]}))
    model(torch.randn(2, 4, 5, 5))
    result = thrifty.summary(model)
    assert [r.name for r in result.records] == ["0", "2", "3"]
    first = result.records[0]
    assert (first.weight_elements, first.activation_elements, first.macs) == (
        8 * 4 * 9,
        4 * 25,
        8 * 25 * 4 * 9,
    )
    assert result.records[1].macs == 8 * 25 * 9  # depthwise: 1 input channel per output
    assert result.mean_bits == 8.0 and result.bitops == 64.0 * result.macs
    assert result.skipped == [{"name": "5", "type": "Linear", "reason": "excluded by config"}]
    table = str(result)
    assert "mean_bits: 8" in table and "excluded by config" in table
    assert result.to_dict()["records"][0]["name"] == "0"


def test_dequantize_gives_the_float_model_back() -> None:
    model = _net()
    x = torch.randn(2, 4, 5, 5)
    expected = model(x)
    dequantize(thrifty.quantize(model))
    assert type(model[0]) is nn.Conv2d and torch.equal(model(x), expected)


# ---- bad input ---------------------------------------------------------------------------


def test_model_without_quantizable_layer() -> None:
    with pytest.raises(QuantizationError, match="no quantizable layer.*Conv3d"):
        thrifty.quantize(nn.Sequential(nn.Conv3d(1, 1, 1), nn.ReLU()))


def test_unsupported_layers_are_skipped_with_a_warning() -> None:
    class MyLinear(nn.Linear):
        pass

    model = nn.Sequential(nn.Linear(3, 3), MyLinear(3, 3), nn.ConvTranspose2d(1, 1, 1))
    with pytest.warns(UserWarning, match=r"1 \(MyLinear\): subclass.*2 \(ConvTranspose2d\)"):
        thrifty.quantize(model)
    assert type(model[1]) is MyLinear


def test_group_that_does_not_divide_names_the_layer() -> None:
    config = thrifty.QuantConfig.model_validate({"weight": {"granularity": ["group", 5]}})
    with pytest.raises(QuantizationError, match=r"layer '0' \(Conv2d\): weight granularity.*36"):
        thrifty.quantize(_net(), config)
    config = thrifty.QuantConfig.model_validate({"activation": {"granularity": ["group", 3]}})
    with pytest.raises(QuantizationError, match=r"layer '0'.*activation.*4 input channels"):
        thrifty.quantize(_net(), config)


def test_unmatched_pattern_and_double_quantize_are_errors() -> None:
    config = thrifty.QuantConfig.model_validate({"exclude": ["conv9"]})
    with pytest.raises(QuantizationError, match="'conv9'.*matches no"):
        thrifty.quantize(_net(), config)
    model = thrifty.quantize(_net())
    with pytest.raises(QuantizationError, match="already quantized"):
        thrifty.quantize(model)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_values_name_the_layer(bad: float) -> None:
    model = thrifty.quantize(_net())
    x = torch.randn(2, 4, 5, 5)
    x[0, 0, 0, 0] = bad
    with pytest.raises(QuantizationError, match="layer '0'.*activation quantizer's range"):
        model(x)
    with torch.no_grad():
        model[3].weight[0, 0, 0, 0] = bad
    with pytest.raises(QuantizationError, match="layer '3'.*weight quantizer"):
        model(torch.randn(2, 4, 5, 5))


def test_overrides_apply_per_layer_first_and_last() -> None:
    config = thrifty.QuantConfig.model_validate(
        {
            "overrides": [
                {"pattern": "@first", "weight": {"learnable": False}},
                {"pattern": "@last", "activation": {"enabled": False}},
            ]
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = thrifty.quantize(_net(), config)
    assert model[0].weight_quantizer.frozen and not model[2].weight_quantizer.frozen
    assert model[5].input_quantizer.bits is None
    x = torch.randn(2, 4, 5, 5)
    seen = {}
    model[5].operand_tap.register_forward_hook(lambda m, args, out: seen.update(x=out[0]))
    model(x)
    assert seen["x"].unique().numel() > 256  # left in float
    copy.deepcopy(model)(x)


def test_float_mantissa_and_symmetric_kinds_in_a_model() -> None:
    config = thrifty.QuantConfig.model_validate(
        {"weight": {"kind": "float_mantissa"}, "activation": {"kind": "int_symmetric"}}
    )
    model = thrifty.quantize(nn.Sequential(nn.Linear(6, 4)), config)
    seen = {}
    model[0].operand_tap.register_forward_hook(lambda m, args, out: seen.update(q=out))
    x = torch.randn(3, 6)
    model(x).sum().backward()
    w = model[0].weight.detach()
    assert torch.equal(seen["q"][1], w.to(torch.bfloat16).float())  # 7 fraction bits
    scale = x.abs().max()
    step = scale / 127
    assert torch.equal(seen["q"][0], torch.round(x / step) * step)
    assert model[0].weight_quantizer.bits.grad is not None


def test_public_names_are_exported() -> None:
    for name in (
        "QuantConfig",
        "quantize",
        "BitlengthRegularizer",
        "param_groups",
        "freeze",
        "summary",
        "save",
        "load",
        "QuantizationError",
        "__version__",
    ):
        assert name in thrifty.__all__ and hasattr(thrifty, name)
