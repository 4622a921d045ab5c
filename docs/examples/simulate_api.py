"""Simulate the three training operations of one convolution from tensors in memory."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from thrifty.hw.config import load_hardware_config
from thrifty.hw.sim.simulation import simulate_entries

torch.manual_seed(0)
x = torch.relu(torch.randn(4, 8, 12, 12))  # activations after a ReLU: many zeros
w = torch.randn(16, 8, 3, 3) * 0.1
out = F.conv2d(x, w, stride=2, padding=1)
grad = torch.randn_like(out) * 1e-3
geometry = {
    "kind": "conv2d",
    "input_shape": list(x.shape),
    "weight_shape": list(w.shape),
    "output_shape": list(out.shape),
    "stride": [2, 2],
    "padding": [1, 1],
    "dilation": [1, 1],
    "groups": 1,
}
entries = [
    {"layer": "conv", "op": "forward", "geometry": geometry,
     "tensors": {"activation": x, "weight": w}},
    {"layer": "conv", "op": "backward_data", "geometry": geometry,
     "tensors": {"grad_output": grad, "weight": w}},
    {"layer": "conv", "op": "backward_weight", "geometry": geometry,
     "tensors": {"grad_output": grad, "activation": x}},
]  # fmt: skip
simulation = simulate_entries(entries, load_hardware_config("default"))
for record in (*simulation.layers, simulation.total):
    print(record.layer, record.op, record.macs, {k: round(v, 2) for k, v in record.speedup.items()})
assert simulation.total.macs == sum(r.macs for r in simulation.layers)

# Against both baselines, with and without the off-chip codec; energy split three ways.
for name, c in simulation.total.comparisons.items():
    print(f"{name}: speedup (tile) {c['speedup']['tile']:.2f}, energy efficiency: compute "
          f"{c['energy_efficiency_compute']:.2f}, compute+SRAM "
          f"{c['energy_efficiency_compute_sram']:.2f}, total {c['energy_efficiency_total']:.2f}")
for baseline in simulation.area.baselines.values():
    print(f"ratio vs {baseline.baseline}: {baseline.ratio:.2f} from {baseline.source.describe()}")
