"""Learned bitlengths in three extra lines: quantize, add the regularizer, freeze.

Run: `python docs/examples/quantization_example.py` (a few seconds on a CPU). It trains a float
model on scikit-learn's digits, learns bitlengths with a target of 5 mean bits, freezes them,
fine-tunes, prints the summary, and saves / reloads the quantized model.
"""

from __future__ import annotations

import copy
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch
import yaml
from sklearn.datasets import load_digits
from torch import nn

import thrifty

torch.manual_seed(0)
digits = load_digits()
x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
y = torch.tensor(digits.target)


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 64, 10)
    )


def train(model, optimizer, steps, regularizer=None):
    for _ in range(steps):
        batch = torch.randint(0, len(y), (128,))
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        if regularizer is not None:
            loss = loss + regularizer()  # extra line 2: the bitlength cost
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


float_model = make_model()
train(float_model, torch.optim.Adam(float_model.parameters(), 3e-3), 100)

# The config as it would come from a YAML file.
config = thrifty.QuantConfig.model_validate(
    yaml.safe_load(
        """
        weight: {granularity: channel}
        activation: {granularity: tensor}
        overrides:
          - {pattern: "@first", weight: {min_bits: 4}}
        """
    )
)
model = thrifty.quantize(copy.deepcopy(float_model), config)  # extra line 1
regularizer = thrifty.BitlengthRegularizer(model, criterion="bits", target=5.0)
optimizer = torch.optim.Adam(thrifty.param_groups(model, lr=1e-3, bits_lr=0.05))
train(model, optimizer, 80, regularizer)
print(f"after phase 1: cost {regularizer.cost:.2f} bits, lambda {regularizer.strength:.3f}")

thrifty.freeze(model)  # extra line 3: integer bitlengths, fixed
train(model, torch.optim.Adam(thrifty.param_groups(model, lr=5e-4)), 20)

model.eval()
summary = thrifty.summary(model)
print(summary)
with tempfile.TemporaryDirectory() as folder:
    path = thrifty.save(model, Path(folder) / "digits_quantized.pt")
    reloaded = thrifty.load(make_model(), path).eval()
    assert torch.equal(reloaded(x[:16]), model(x[:16]))
print(f"mean bits {summary.mean_bits:.2f}; saved and reloaded exactly")
