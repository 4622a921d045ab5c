"""Small nets shared by the trace tests (imported by path: tests/ is not a package)."""

from __future__ import annotations

import torch
from torch import nn


class ConvNet(nn.Module):
    """Strided+padded, grouped, depthwise, 'same' (even kernel), 1-d convolutions and a linear."""

    def __init__(self, inplace: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)  # strided, padded
        self.relu = nn.ReLU(inplace=inplace)  # in place on conv1's output
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, groups=2, bias=False)  # grouped
        self.conv3 = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8)  # depthwise, dilated
        self.conv4 = nn.Conv2d(8, 6, 4, padding="same")  # asymmetric padding
        self.conv5 = nn.Conv1d(6, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv1(x))
        x = torch.tanh(self.conv2(x))
        x = self.conv3(x) * 0.5
        x = self.conv4(x).relu()
        x = self.conv5(x.flatten(2))  # (N, 6, 16) -> (N, 4, 8) for 8x8 images
        return self.fc(x.flatten(1))


class OperandTap(nn.Module):
    """Identity on the operands as multiplied (the protocol of thrifty's quantized layers)."""

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, w


def fake_quantize(t: torch.Tensor, step: float) -> torch.Tensor:
    """Round to multiples of `step` with a straight-through gradient."""
    return t + (torch.round(t / step) * step - t).detach()


class StandInQuantConv2d(nn.Conv2d):
    """A stand-in for thrifty.quant's QuantConv2d: rounds x and w, then calls the tap."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.operand_tap = OperandTap()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_q, w_q = self.operand_tap(fake_quantize(x, 0.25), fake_quantize(self.weight, 0.125))
        return self._conv_forward(x_q, w_q, self.bias)


class StandInQuantLinear(nn.Linear):
    """A stand-in for thrifty.quant's QuantLinear."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.operand_tap = OperandTap()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_q, w_q = self.operand_tap(fake_quantize(x, 0.25), fake_quantize(self.weight, 0.125))
        return nn.functional.linear(x_q, w_q, self.bias)


class QuantNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = StandInQuantConv2d(2, 4, 3, stride=2, padding=1)
        self.fc = StandInQuantLinear(4 * 3 * 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).relu().flatten(1))


def tiny_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
