"""Criterion 'terms': learn bitlengths against the terms a term-serial PE spends.

Run: `python docs/examples/terms_criterion.py` (seconds on a CPU). It trains a small float
model on scikit-learn's digits, then learns bitlengths for 150 steps with the terms criterion
in target mode (1.0 NAF term per activation value), and prints the cost before and after
alongside the mean activation bits.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch
from sklearn.datasets import load_digits
from torch import nn

import thrifty

torch.manual_seed(0)
digits = load_digits()
x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
y = torch.tensor(digits.target)
model = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)
)
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
for _ in range(150):  # float training
    batch = torch.randint(0, len(y), (64,))
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
    optimizer.step()

thrifty.quantize(model)  # 8-bit learnable weights and inputs
reg = thrifty.BitlengthRegularizer(
    model, criterion="terms", target=1.0, terms={"serial": "activations", "statistic": "mean"}
)
optimizer = torch.optim.Adam(thrifty.param_groups(model, lr=1e-3, bits_lr=0.1))
for step in range(150):
    batch = torch.randint(0, len(y), (64,))
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(model(x[batch]), y[batch]) + reg()  # counts: this batch
    loss.backward()
    optimizer.step()
    if step == 0:
        first = reg.cost
reg.close()
summary = thrifty.summary(model)
print(f"terms per activation value: {first:.3f} -> {reg.cost:.3f} (target 1.0)")
print(f"mean activation bits: {summary.mean_activation_bits:.2f}")
