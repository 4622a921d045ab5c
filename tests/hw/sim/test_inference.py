"""Integer inference: a one-layer model against a hand computation, and the integer forward pass.

The hand-worked layer: a Conv2d with 3 input channels, 2 output channels and a 1 × 2 kernel on
a 1 × 3 input (2 output positions), without bias. The activation quantizer has 3 bits and the
range [0, 7] (step 1), the weight 2 bits and the range [0, 3] (step 1), so the codes are the
values themselves:

    input x[c] (c = 0, 1, 2):  [7, 1, 0], [3, 5, 2], [0, 6, 4]
    weight W[o, c]:            o0: [1, 0], [2, 3], [0, 1]    o1: [3, 0], [0, 0], [1, 2]

Lowered (K index = 2·c + kernel column): A = [[7, 1, 3, 5, 0, 6], [1, 0, 5, 2, 6, 4]],
B[:, 0] = [1, 0, 2, 3, 0, 1], B[:, 1] = [3, 0, 0, 0, 1, 2]; O = A·B = [[34, 33], [21, 17]].
NAF terms: 0→0, 1→1, 2→1, 3→2 (4−1), 4→1, 5→2, 6→2 (8−2), 7→2 (8−1); binary 7→3.
With 2 lanes, per-kernel-position padding gives the steps [k0, k2], [k4, pad], [k1, k3],
[k5, pad] (4 steps); end padding [k0, k1], [k2, k3], [k4, k5] (3 steps). One 2 × 2 tile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import thrifty
from thrifty.errors import SimulationError
from thrifty.hw import HardwareConfig, simulate_inference, write_inference
from thrifty.hw.sim.inference import reduction_order, requantized
from thrifty.hw.sim.integer_forward import integer_forward
from thrifty.numerics.terms import term_count
from thrifty.quant.config import QuantConfig
from thrifty.quant.quantize import quantized_layers

X = [[7, 1, 0], [3, 5, 2], [0, 6, 4]]
W = [[[1, 0], [2, 3], [0, 1]], [[3, 0], [0, 0], [1, 2]]]


def hand_model() -> nn.Module:
    """The hand-worked layer, quantized and frozen with step-1 ranges (codes = values)."""
    conv = nn.Conv2d(3, 2, kernel_size=(1, 2), bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(W, dtype=torch.float32).reshape(2, 3, 1, 2))
    model = nn.Sequential(conv)
    bits = {"weight": {"init_bits": 2}, "activation": {"init_bits": 3}}
    thrifty.quantize(model, QuantConfig.model_validate(bits))
    thrifty.freeze(model)
    quantizer = model[0].input_quantizer
    quantizer.running_lo.fill_(0.0)
    quantizer.running_hi.fill_(7.0)
    quantizer.num_batches_tracked.fill_(1)
    return model.eval()


def hand_input() -> torch.Tensor:
    return torch.tensor(X, dtype=torch.float32).reshape(1, 3, 1, 3)


def hand_config(**inference) -> HardwareConfig:
    return HardwareConfig.model_validate({
        "pe": {"lanes": 2},
        "tile": {"rows": 2, "cols": 2, "tiles": 1, "row_buffer_depth": 4},
        "inference": inference,
    })  # fmt: skip


def test_hand_model_integer_output_and_codes():
    forward = integer_forward(hand_model(), hand_input())
    (layer,) = forward.layers
    np.testing.assert_array_equal(
        layer.activation_codes[0], [[7, 1, 3, 5, 0, 6], [1, 0, 5, 2, 6, 4]]
    )
    np.testing.assert_array_equal(layer.weight_codes[0].T, [[1, 0, 2, 3, 0, 1],
                                                            [3, 0, 0, 0, 1, 2]])  # fmt: skip
    np.testing.assert_array_equal(layer.activation_bits[0], [3] * 6)
    expected = torch.tensor([[34.0, 21.0], [33.0, 17.0]]).reshape(1, 2, 1, 2)
    torch.testing.assert_close(forward.output, expected, atol=0, rtol=0)
    torch.testing.assert_close(forward.reference, expected, atol=0, rtol=0)


def test_hand_model_cycles_naf_per_kernel_position():
    sim = simulate_inference(hand_model(), hand_input(), hand_config())
    layer = sim.learned.layers[0]
    assert layer.steps == 4 and layer.output_tiles == 1 and layer.macs == 2 * 6 * 2
    # Per PE (m, n), no zero-weight skipping: m0 steps 2, 1 (min), 2, 2 = 7; m1 2, 2, 1, 1 = 6.
    # Lockstep: per step the slowest of the four PEs: 2 + 2 + 2 + 2.
    assert layer.cycles["term_serial"] == {"tile": 8.0, "row": 7.0, "ideal": 7.0}
    assert layer.term_serial_pe_cycles == 7 + 7 + 6 + 6
    # Terms of A's rows (9 and 7), processed by both columns' PEs.
    assert layer.terms == (9 + 7) * 2
    assert layer.cycles["bit_serial"] == 4 * 3  # 3-bit activations, 4 steps
    assert layer.cycles["bit_parallel"] == 4
    assert layer.activation_bits == 3 and layer.weight_bits == 2


def test_hand_model_row_buffer_of_depth_one_is_lockstep():
    config = hand_config().model_copy(update={"tile": hand_config().tile.model_copy(
        update={"row_buffer_depth": 1})})  # fmt: skip
    layer = simulate_inference(hand_model(), hand_input(), config).learned.layers[0]
    assert layer.cycles["term_serial"]["row"] == layer.cycles["term_serial"]["tile"] == 8


def test_hand_model_cycles_end_padding():
    sim = simulate_inference(hand_model(), hand_input(), hand_config(reduction_padding="end"))
    layer = sim.learned.layers[0]
    # m0: steps [7,1] [3,5] [0,6] → 2, 2, 2; m1: [1,0] [5,2] [6,4] → 1, 2, 2.
    assert layer.steps == 3
    assert layer.cycles["term_serial"] == {"tile": 6.0, "row": 6.0, "ideal": 6.0}
    assert layer.term_serial_pe_cycles == 6 + 6 + 5 + 5
    assert layer.cycles["bit_serial"] == 9 and layer.cycles["bit_parallel"] == 3


def test_hand_model_zero_weight_skipping():
    sim = simulate_inference(hand_model(), hand_input(), hand_config(skip_zero_weights=True))
    layer = sim.learned.layers[0]
    # PE (m, n) cycles: (0,0) 2+1+2+2, (0,1) 2+1+1+2, (1,0) 2+1+1+1, (1,1) 1+2+1+1.
    assert layer.term_serial_pe_cycles == 7 + 6 + 5 + 5
    assert layer.cycles["term_serial"] == {"tile": 8.0, "row": 7.0, "ideal": 7.0}
    # Only lanes with a non-zero weight: column 0 (k0, k2, k3, k5) 8 + 5, column 1 (k0, k4,
    # k5) 4 + 4.
    assert layer.terms == 13 + 8


def test_hand_model_binary_encoding():
    config = hand_config().model_copy(update={"pe": hand_config().pe.model_copy(
        update={"encoding": "binary"})})  # fmt: skip
    layer = simulate_inference(hand_model(), hand_input(), config).learned.layers[0]
    # 7 = 0b111 has 3 binary terms: m0 steps 3, 1, 2, 2; m1 2, 2, 1, 1; lockstep 3+2+2+2.
    assert layer.cycles["term_serial"]["tile"] == 9
    assert layer.term_serial_pe_cycles == 2 * (8 + 6)


def test_hand_model_energy_from_the_table():
    config = hand_config()
    layer = simulate_inference(hand_model(), hand_input(), config).learned.layers[0]
    e = config.energy
    sram = (2 * 6 * 3 + 6 * 2 * 2) * e.sram_bit_pj  # A read once (3 bits), B once (2 bits)
    ts = layer.energy_pj["term_serial"]
    assert ts["lanes_pj"] == pytest.approx(32 * (e.shifter_pj + e.int_adder_tree_input_pj))
    assert ts["idle_lanes_pj"] == pytest.approx((26 * 2 - 32) * e.idle_lane_pj)
    assert ts["accumulator_pj"] == pytest.approx(26 * e.int_accumulator_pj)
    assert ts["sram_pj"] == pytest.approx(sram)
    bs = layer.energy_pj["bit_serial"]  # 4 PEs × 12 cycles, 2 lanes
    assert bs["compute_pj"] == pytest.approx(
        48 * 2 * e.int_adder_tree_input_pj + 48 * e.int_accumulator_pj
    )
    bp = layer.energy_pj["bit_parallel"]  # 4 PEs × 4 steps
    assert bp["compute_pj"] == pytest.approx(
        16 * 2 * (e.multiplier_pj + e.int_adder_tree_input_pj) + 16 * e.int_accumulator_pj
    )
    assert bp["total_pj"] == pytest.approx(bp["compute_pj"] + sram)


def test_uniform_bits_requantize_the_same_model():
    model = hand_model()
    sim = simulate_inference(model, hand_input(), hand_config())
    assert sim.uniform.precision == "uniform_8"
    layer = sim.uniform.layers[0]
    assert layer.activation_bits == 8 and layer.weight_bits == 8
    assert layer.cycles["bit_serial"] == 4 * 8
    # The caller's model keeps its learned bitlengths.
    assert float(model[0].input_quantizer.bitlength) == 3.0
    assert float(requantized(model, 5)[0].weight_quantizer.bitlength) == 5.0


def test_reduction_order_pads_each_kernel_position():
    np.testing.assert_array_equal(
        reduction_order(3, 2, 2, "kernel_position"), [0, 2, 4, -1, 1, 3, 5, -1]
    )
    np.testing.assert_array_equal(reduction_order(3, 2, 4, "end"), [0, 1, 2, 3, 4, 5, -1, -1])
    with pytest.raises(SimulationError, match="reduction_padding 'rows' is unknown"):
        reduction_order(3, 2, 2, "rows")


def test_naf_never_has_more_terms_than_booth_on_8_bit_codes():
    codes = np.arange(256)
    naf, booth = term_count(codes, "naf"), term_count(codes, "booth4")
    assert (naf <= booth).all() and naf.sum() < booth.sum()


def _random_model(seed: int, quant: dict) -> tuple[nn.Module, torch.Tensor]:
    """A small network with padding, stride, groups and a linear layer, random integer bits."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(4, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 3 * 3, 5),
    )
    thrifty.quantize(model, QuantConfig.model_validate(quant))
    x = torch.randn(6, 4, 6, 6)
    model.train()
    for _ in range(3):
        model(x)  # activation moving averages
    thrifty.freeze(model)
    with torch.no_grad():
        for _, layer in quantized_layers(model):
            for q in (layer.weight_quantizer, layer.input_quantizer):
                q.bitlength.copy_(torch.randint(2, 9, q.bitlength.shape).float())
                if q.learned_range:  # a learned range inside the data's: values get clipped
                    q.range_lo.mul_(0.7)
                    q.range_hi.mul_(0.6)
    return model.eval(), x


@pytest.mark.parametrize(
    "quant",
    [
        {},
        {"weight": {"granularity": "channel"}, "activation": {"granularity": "channel"}},
        {"weight": {"granularity": ["group", 3], "kind": "int_symmetric"},
         "activation": {"granularity": ["group", 2]}},
        {"weight": {"granularity": "channel", "range": "learned"},
         "activation": {"range": "learned"}},
        {"weight": {"kind": "int_symmetric", "range": "learned"}},
    ],
    ids=["tensor", "channel", "group-symmetric", "learned-range", "learned-range-symmetric"],
)  # fmt: skip
def test_integer_forward_reproduces_the_fake_quantized_model(quant):
    model, x = _random_model(0, quant)
    forward = integer_forward(model, x)
    assert [r.name for r in forward.layers] == ["0", "2", "5"]
    for record in forward.layers:
        # float32 rounding of the fake-quantized forward, relative to the layer's outputs.
        assert record.max_abs_error <= 1e-5 * max(1.0, record.max_abs_output), record.name
        for codes, bits in zip(record.activation_codes, record.activation_bits, strict=True):
            assert codes.dtype == np.int64
            assert (np.abs(codes) < 2 ** bits[None, :]).all()
    torch.testing.assert_close(forward.output, forward.reference, atol=1e-5, rtol=1e-5)


class _Sequence(nn.Module):
    """Conv1d on (batch, channels, length), then a Linear on (batch, length, features)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3, padding=2, dilation=2)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).transpose(1, 2))


def test_integer_forward_of_conv1d_and_a_linear_on_sequences():
    torch.manual_seed(3)
    model = _Sequence()
    thrifty.quantize(model, QuantConfig.model_validate({"activation": {"granularity": "channel"}}))
    x = torch.randn(2, 3, 10)
    model.train()
    model(x)
    thrifty.freeze(model)
    forward = integer_forward(model.eval(), x)
    assert [r.geometry.kind for r in forward.layers] == ["conv1d", "linear"]
    assert forward.layers[1].activation_codes[0].shape == (2 * 10, 4)
    torch.testing.assert_close(forward.output, forward.reference, atol=1e-5, rtol=1e-5)


def test_inference_json_records_config_version_seed(tmp_path):
    model, x = _random_model(1, {})
    sim = simulate_inference(model, x[:2], HardwareConfig(), seed=7, source="unit")
    data = json.loads(write_inference(sim, tmp_path).read_text())
    assert data["images"] == 2 and data["provenance"]["seed"] == 7
    assert data["provenance"]["thrifty_version"] == thrifty.__version__
    assert data["config"]["inference"]["reduction_padding"] == "kernel_position"
    learned = data["learned"]
    assert learned["total"]["macs"] == sum(r["macs"] for r in learned["layers"])
    total_cycles = sum(r["cycles"]["bit_parallel"] for r in learned["layers"])
    assert learned["per_inference"]["cycles"]["bit_parallel"] == total_cycles / 2
    assert learned["integer_check"]["top1_agreement"] == 1.0


def test_errors_name_the_layer_and_the_fix():
    model, x = _random_model(2, {"activation": {"kind": "float_mantissa"}})
    with pytest.raises(SimulationError, match=r"layer '0': the activation quantizer is kind "
                       r"'float_mantissa'; integer inference needs integer codes"):  # fmt: skip
        simulate_inference(model, x)
    torch.manual_seed(0)
    unfrozen = thrifty.quantize(nn.Sequential(nn.Linear(4, 2)))
    with torch.no_grad():
        unfrozen[0].weight_quantizer.bitlength.fill_(4.5)
    with pytest.raises(SimulationError, match=r"bitlength \[4.5\] is not an integer.*freeze"):
        simulate_inference(unfrozen, torch.randn(2, 4))
    with pytest.raises(SimulationError, match="has no quantized layer"):
        simulate_inference(nn.Sequential(nn.Linear(4, 2)), torch.randn(2, 4))
    with pytest.raises(SimulationError, match="hold no image"):
        simulate_inference(hand_model(), torch.zeros(0, 3, 1, 3))


def test_docs_example_runs():
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "docs/examples/inference_api.py"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "top-1 agreement 100%" in proc.stdout
