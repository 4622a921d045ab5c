"""Integer inference cost of a frozen learned-bitlength model, from Python."""

from __future__ import annotations

import torch
from torch import nn

import thrifty
from thrifty.hw import HardwareConfig, simulate_inference

torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 7 * 7, 10),
)  # fmt: skip
# Stand-ins for learned bitlengths: 4-bit weights, 5-bit activations (a real run learns them).
thrifty.quantize(model, thrifty.QuantConfig.model_validate(
    {"weight": {"init_bits": 4}, "activation": {"init_bits": 5}}))  # fmt: skip
images = torch.randn(16, 1, 14, 14)
model.train()
model(images)  # a calibration batch sets the activation ranges (moving averages)
thrifty.freeze(model)

config = HardwareConfig.model_validate({"inference": {"reduction_padding": "kernel_position"}})
simulation = simulate_inference(model, images[:4], config, seed=0)
report = simulation.to_dict()
for precision in ("learned", "uniform"):
    per = report[precision]["per_inference"]
    print(precision, {d: round(c) for d, c in per["cycles"].items()},
          {d: f"{e / 1000:.1f} nJ" for d, e in per["energy_pj"].items()})  # fmt: skip
check = report["learned"]["integer_check"]
print(f"integer pass vs fake-quantized forward: max |error| {check['logits_max_abs_error']:.2e}, "
      f"top-1 agreement {check['top1_agreement']:.0%}")
# Bit-serial cycles scale with the activation bits: 5 learned against 8 uniform.
learned, uniform = simulation.learned.total, simulation.uniform.total
assert learned.cycles["bit_serial"] * 8 == uniform.cycles["bit_serial"] * 5
assert learned.cycles["bit_parallel"] == uniform.cycles["bit_parallel"]
