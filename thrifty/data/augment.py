"""The usual light augmentation for 32×32 images: random crop with zero padding + horizontal flip.

Applied to a whole batch at once with an explicit generator, so that the same (seed, epoch,
step) always gives the same batch — which is what makes resumed runs bit-identical.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def crop_flip(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Randomly crop each image back to its size after zero-padding by `padding`, and flip half.

    `images` is (B, C, H, W); zero padding in the normalised space (the per-channel mean).
    """
    batch, channels, height, width = images.shape
    flips = torch.rand(batch, generator=generator) < 0.5
    out = torch.where(flips.view(-1, 1, 1, 1), images.flip(-1), images)
    if padding == 0:
        return out
    padded = F.pad(out, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (batch,), generator=generator)
    left = torch.randint(0, 2 * padding + 1, (batch,), generator=generator)
    rows = (top.view(-1, 1) + torch.arange(height)).view(batch, 1, height, 1)
    cols = (left.view(-1, 1) + torch.arange(width)).view(batch, 1, 1, width)
    index_b = torch.arange(batch).view(-1, 1, 1, 1)
    index_c = torch.arange(channels).view(1, -1, 1, 1)
    return padded[index_b, index_c, rows, cols]
