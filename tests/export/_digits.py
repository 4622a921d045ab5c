"""A small CNN with batch norm trained briefly on the bundled digits with learned bitlengths,
batch norms folded, frozen: the model the export tests export (a few seconds on one core)."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch import nn

import thrifty


def make_model() -> nn.Module:
    """conv-bn-relu, conv-bn-relu (stride 2), linear: 8×8 digits → 10 classes."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1, stride=2),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )


def digits() -> tuple[torch.Tensor, ...]:
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    return x[:1400], y[:1400], x[1400:], y[1400:]


def _fit(model, x, y, optimizer, steps, regularizer=None) -> None:
    model.train()
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        batch = torch.randint(0, len(y), (128,), generator=generator)
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        if regularizer is not None:
            loss = loss + regularizer()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def trained(weight_kind: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """(frozen quantized model in eval mode, test images, test labels)."""
    torch.manual_seed(0)
    x_train, y_train, x_test, y_test = digits()
    model = make_model()
    _fit(model, x_train, y_train, torch.optim.Adam(model.parameters(), 3e-3), 60)
    weight = {"granularity": "channel", "kind": weight_kind}
    thrifty.quantize(model, thrifty.QuantConfig(fold_batchnorm=True, weight=weight))
    regularizer = thrifty.BitlengthRegularizer(model, criterion="memory", strength=0.2)
    optimizer = torch.optim.Adam(thrifty.param_groups(model, lr=1e-3, bits_lr=0.1))
    _fit(model, x_train, y_train, optimizer, 40, regularizer)
    thrifty.freeze(model)
    _fit(model, x_train, y_train, torch.optim.Adam(thrifty.param_groups(model, lr=5e-4)), 15)
    return model.eval(), x_test, y_test
