"""The packed integer checkpoint: bit-packing, a bit-for-bit reload, and its size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open
from torch import nn

import thrifty
from tests.export._digits import make_model
from thrifty.errors import CheckpointError, ExportError
from thrifty.export import load_packed, packed_weights, save_packed
from thrifty.export.packed import pack_codes, unpack_codes
from thrifty.quant import QuantConfig, quantized_layers


def test_bit_packing_round_trips_and_is_tight():
    rng = np.random.default_rng(0)
    widths = rng.integers(1, 17, size=999)
    codes = rng.integers(0, 2**widths)
    stream = pack_codes(codes, widths)
    assert stream.dtype == np.uint8 and stream.size == -(-int(widths.sum()) // 8)
    np.testing.assert_array_equal(unpack_codes(stream, widths), codes)
    # a hand-worked stream: 5 (3 bits) then 1 (1 bit) then 6 (4 bits), LSB first → 0b0110_1101
    assert pack_codes(np.array([5, 1, 6]), np.array([3, 1, 4])).tolist() == [0b01101101]


def _operand_weights(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The weight each quantized layer multiplies, seen at its operand tap."""
    seen = {}
    handles = [
        layer.operand_tap.register_forward_hook(
            lambda m, args, out, name=name: seen.update({name: args[1].detach().clone()})
        )
        for name, layer in quantized_layers(model)
    ]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return seen


def test_trained_model_reloads_bit_for_bit_at_the_size_of_its_bits(symmetric_digits, tmp_path):
    model, x, _ = symmetric_digits
    path = tmp_path / "m.safetensors"
    size = save_packed(model, path, provenance={"seed": 0})
    loaded = load_packed(make_model(), path)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=0, rtol=0)
    assert isinstance(loaded[1], nn.Identity)  # the batch norms are folded
    expected = _operand_weights(model, x[:4])
    assert _operand_weights(loaded, x[:4]).keys() == expected.keys()
    for name, weight in _operand_weights(loaded, x[:4]).items():
        torch.testing.assert_close(weight, expected[name], atol=0, rtol=0)
    stored = packed_weights(path)
    for name, weight in expected.items():
        torch.testing.assert_close(stored[f"{name}.weight"], weight, atol=0, rtol=0)
    # size: the codes are the weight bits of the summary, to the byte, per tensor
    means = thrifty.summary(model)
    weight_bits = sum(r.weight_elements * r.weight_bits for r in means.records)
    activation_bits = sum(r.activation_elements * r.activation_bits for r in means.records)
    elements = sum(r.weight_elements + r.activation_elements for r in means.records)
    exact_bits = sum(  # each group of a layer holds the same number of weights
        int(layer.weight_quantizer.bitlength.sum())
        * (layer.weight.numel() // layer.weight_quantizer.bitlength.numel())
        for _, layer in quantized_layers(model)
    )
    assert size.weight_bits == exact_bits == pytest.approx(weight_bits, rel=1e-6)
    # memory_weighted_bits counts weights and per-sample activations: its weight part
    weight_part = means.memory_weighted_bits * elements - activation_bits
    assert weight_part == pytest.approx(exact_bits, rel=1e-6)
    assert size.weight_bits / 8 <= size.codes_bytes < size.weight_bits / 8 + size.packed_tensors
    assert path.stat().st_size == size.file_bytes
    with safe_open(str(path), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    assert sum(t.numel() * t.element_size() for t in tensors.values()) == (
        size.codes_bytes + size.other_tensor_bytes
    )
    assert size.file_bytes == size.codes_bytes + size.other_tensor_bytes + size.header_bytes
    assert size.header_bytes < 4096


class Plain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 2, groups=2)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4 * 4, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


@pytest.mark.parametrize(
    "config",
    [
        # per-channel bitlengths that differ, an unfolded batch norm, a float input
        {"weight": {"granularity": "channel", "init_bits": 3}, "activation": {"enabled": False}},
        # per-group symmetric weights, per-channel activations
        {
            "weight": {"granularity": ["group", 4], "kind": "int_symmetric", "init_bits": 5},
            "activation": {"granularity": "channel"},
            "fold_batchnorm": True,
        },
        # 1-bit and 16-bit extremes
        {
            "weight": {"init_bits": 1, "min_bits": 1},
            "overrides": [{"pattern": "fc", "weight": {"init_bits": 16}}],
        },
    ],
)
def test_every_granularity_reloads_bit_for_bit(config, tmp_path):
    torch.manual_seed(2)
    model = thrifty.quantize(Plain(), QuantConfig.model_validate(config))
    model.train()(torch.randn(16, 4, 5, 5))
    with torch.no_grad():
        bits = model.conv.weight_quantizer.bitlength
        bits.copy_(torch.arange(bits.numel()).reshape(bits.shape) % 4 + bits.min())
    thrifty.freeze(model).eval()
    torch.manual_seed(2)
    save_packed(model, tmp_path / "p.safetensors")
    loaded = load_packed(Plain(), tmp_path / "p.safetensors")
    x = torch.randn(7, 4, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=0, rtol=0)


def test_what_the_packed_format_cannot_hold_is_refused(tmp_path):
    model = thrifty.quantize(Plain(), QuantConfig(weight={"kind": "float_mantissa"}))
    model.train()(torch.randn(2, 4, 5, 5))
    thrifty.freeze(model)
    with pytest.raises(ExportError, match=r"layer 'conv' weight uses the float_mantissa"):
        save_packed(model, tmp_path / "p.safetensors")
    learning = thrifty.quantize(Plain())
    learning.train()(torch.randn(2, 4, 5, 5))
    with pytest.raises(ExportError, match=r"layer 'conv' weight bitlength .* call thrifty.freeze"):
        save_packed(learning, tmp_path / "p.safetensors")
    untrained = thrifty.freeze(thrifty.quantize(Plain()))
    with pytest.raises(ExportError, match=r"layer 'conv' activation range was never learned"):
        save_packed(untrained, tmp_path / "p.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(CheckpointError, match=r"cannot be read as safetensors"):
        load_packed(Plain(), tmp_path / "bad.safetensors")
