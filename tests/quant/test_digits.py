"""End to end on scikit-learn's bundled digits: learned bitlengths fall below 6 on average
while test accuracy stays within 1 point of the float model."""

from __future__ import annotations

import copy

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import thrifty


def _data() -> tuple[torch.Tensor, ...]:
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    return x[:1400], y[:1400], x[1400:], y[1400:]


def _model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10),
    )


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item() * 100
    model.train()
    return accuracy


def _train(model, x, y, optimizer, steps, regularizer=None) -> None:
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        batch = torch.randint(0, len(y), (128,), generator=generator)
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        if regularizer is not None:
            loss = loss + regularizer()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.mark.usefixtures("one_torch_thread")
def test_digits_learns_fewer_bits_at_float_accuracy() -> None:
    x_train, y_train, x_test, y_test = _data()
    model = _model()
    _train(model, x_train, y_train, torch.optim.Adam(model.parameters(), 3e-3), 200)
    float_accuracy = _accuracy(model, x_test, y_test)
    assert float_accuracy > 95.0

    quantized = thrifty.quantize(copy.deepcopy(model))
    regularizer = thrifty.BitlengthRegularizer(quantized, criterion="bits", strength=0.1)
    optimizer = torch.optim.Adam(thrifty.param_groups(quantized, lr=1e-3, bits_lr=0.05))
    _train(quantized, x_train, y_train, optimizer, 100, regularizer)
    thrifty.freeze(quantized)
    optimizer = torch.optim.Adam(thrifty.param_groups(quantized, lr=5e-4))
    _train(quantized, x_train, y_train, optimizer, 30)

    result = thrifty.summary(quantized)
    quantized_accuracy = _accuracy(quantized, x_test, y_test)
    assert result.mean_bits < 6.0
    assert quantized_accuracy >= float_accuracy - 1.0
