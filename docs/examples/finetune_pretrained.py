"""Fine-tune your pretrained model to learned bitlengths, with thrifty's defaults only.

Run: `python docs/examples/finetune_pretrained.py` (well under a minute on a CPU). Stands in
for "your" model: a CNN class of its own (not one of thrifty's), trained in float on
scikit-learn's digits and saved as a state dict. Then the three extra lines: quantize, add the
default regularizer to the loss while fine-tuning at a small weight learning rate (1e-4), freeze
and fine-tune a little more. The bitlengths' learning rate is thrifty's default, whatever the
weights' rate is.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

import thrifty

torch.manual_seed(0)
digits = load_digits()
x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
y = torch.tensor(digits.target)
order = torch.randperm(len(y))
train_idx, test_idx = order[:1400], order[1400:]


class MyNet(nn.Module):
    """Your model: any nn.Module whose layers are Conv1d/Conv2d/Linear works the same way."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU()
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 64, 64), nn.ReLU(), nn.Linear(64, 10)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def fit(model, optimizer, steps, regularizer=None):
    model.train()
    for _ in range(steps):
        batch = train_idx[torch.randint(0, len(train_idx), (64,))]
        loss = F.cross_entropy(model(x[batch]), y[batch])
        if regularizer is not None:
            loss = loss + regularizer()  # extra line 2: the bitlength cost
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@torch.no_grad()
def accuracy(model) -> float:
    model.eval()
    return (model(x[test_idx]).argmax(1) == y[test_idx]).float().mean().item()


with tempfile.TemporaryDirectory() as folder:
    # Somewhere else, earlier: your float training, saved as a state dict.
    pretrained = MyNet()
    fit(pretrained, torch.optim.Adam(pretrained.parameters(), lr=1e-3), 400)
    weights = Path(folder) / "my_net.pt"
    torch.save(pretrained.state_dict(), weights)

    # Now: load your weights, quantize, fine-tune with the regularizer at lr 1e-4.
    model = MyNet()
    model.load_state_dict(torch.load(weights, weights_only=True))
    float_accuracy = accuracy(model)
    thrifty.quantize(model)  # extra line 1: every layer at 8 learnable bits
    regularizer = thrifty.BitlengthRegularizer(model)  # 'bits' criterion, λ = 0.05
    optimizer = torch.optim.Adam(thrifty.param_groups(model, lr=1e-4))  # default bits_lr
    fit(model, optimizer, 400, regularizer)
    learned = thrifty.summary(model).mean_bits

    thrifty.freeze(model)  # extra line 3: round the bitlengths up, stop them learning
    fit(model, torch.optim.Adam(thrifty.param_groups(model, lr=1e-4)), 100)

summary = thrifty.summary(model)
print(summary)
print(f"float accuracy {100 * float_accuracy:.2f}%")
print(f"learned mean bits {learned:.2f}, after freeze {summary.mean_bits:.2f}")
print(f"quantized accuracy {100 * accuracy(model):.2f}%")
print(f"mean bits {summary.mean_bits:.2f}")
