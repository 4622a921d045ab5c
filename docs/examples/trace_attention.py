"""Trace a transformer's attention products and simulate them as their own operation kinds.

A one-layer attention model written with F.scaled_dot_product_attention (no thrifty module):
one captured training step records the Linear layers and, through the SDPA decomposition,
Q·Kᵀ and softmax·V with both gradients; the simulator totals them per operation kind.

python docs/examples/trace_attention.py [FOLDER]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import thrifty.trace as tt
from thrifty.hw.config import load_hardware_config
from thrifty.hw.sim.simulation import simulate_trace


class SelfAttention(nn.Module):
    """Two heads over 8 tokens of width 16, then a classifier on the mean token."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(16, 48)
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, 8, 16)
        b, t, _ = x.shape
        q, k, v = (s.transpose(1, 2) for s in self.qkv(x).reshape(b, t, 3, 2, 8).unbind(2))
        out = F.scaled_dot_product_attention(q, k, v)  # (batch, 2 heads, 8, 8)
        return self.head(out.transpose(1, 2).reshape(b, t, 16).mean(1))


def main(folder: Path) -> None:
    torch.manual_seed(0)
    model = SelfAttention()
    x, y = torch.randn(4, 8, 16), torch.randint(0, 4, (4,))
    with tt.capture(model, folder):  # one training step, everything recorded
        F.cross_entropy(model(x), y).backward()

    for entry in tt.open(folder).select(op="forward"):
        g = entry.geometry
        print(entry.layer, g["kind"], g.get("role", ""), g["input_shape"], g["weight_shape"])

    config = load_hardware_config("default")
    for kind, ops in simulate_trace(folder, config).by_kind().items():
        speedups = {op: round(r.speedup["tile"], 2) for op, r in ops.items()}
        print(kind, speedups)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "trace")
