"""Gradual magnitude pruning of your own model in your own training loop (docs/quickstart.md).

Run: python docs/examples/prune_own_model.py  — trains a tiny model on random data for a few
steps, prunes it to 80 % weight sparsity on the cubic schedule and prints the sparsity reached.
"""

from __future__ import annotations

import torch
from torch import nn

from thrifty.train.pruning import MagnitudePruner, PruningConfig, make_permanent

torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)
)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
loader = [(torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))) for _ in range(10)]

config = PruningConfig(target_sparsity=0.8, begin_step=0, end_step=20, frequency=5)
pruner = MagnitudePruner(model, config)  # after building the optimizer: parameters are kept

step = 0
for _epoch in range(3):
    for images, labels in loader:
        loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        pruner.step(step)  # updates the masks on pruning steps
        step += 1

sparsity = pruner.layer_sparsity()
make_permanent(model)  # plain weights again, pruned ones exactly zero
for name, value in sparsity.items():
    print(f"{name}: {value:.3f} of the weights are zero")
