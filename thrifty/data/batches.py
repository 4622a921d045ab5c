"""Batches from in-memory splits: sharded like DistributedSampler, reproducible from any step.

The order of epoch e is the permutation DistributedSampler draws for (seed, e), sharded over
ranks; augmentation of step s draws from a generator seeded by (seed, epoch, step, rank). A run
resumed at (epoch, step) therefore sees exactly the batches an uninterrupted run would have.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import DistributedSampler

from thrifty.data.augment import crop_flip
from thrifty.data.splits import Split


class _Sized:
    """The only thing DistributedSampler needs from a data set: its length."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length


def epoch_indices(n: int, epoch: int, seed: int, rank: int = 0, world_size: int = 1) -> list[int]:
    """This rank's sample indices for `epoch` (padded by repetition so every rank has as many)."""
    sampler = DistributedSampler(
        _Sized(n), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False
    )
    sampler.set_epoch(epoch)
    return list(sampler)


def steps_per_epoch(n: int, batch_size: int, world_size: int = 1) -> int:
    """Number of training batches per epoch on each rank."""
    return math.ceil(math.ceil(n / world_size) / batch_size)


def _step_seed(seed: int, epoch: int, step: int, rank: int) -> int:
    # A fixed mixing of the four integers; any injective-enough formula works.
    return (((seed * 1_000_003 + epoch) * 1_000_003 + step) * 1_000_003 + rank) % (2**63)


def train_batches(
    split: Split,
    batch_size: int,
    epoch: int,
    seed: int,
    *,
    rank: int = 0,
    world_size: int = 1,
    augment: bool = False,
    crop_padding: int = 4,
    start_step: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (images, labels) batches of one epoch, starting at batch `start_step`."""
    indices = torch.tensor(epoch_indices(len(split), epoch, seed, rank, world_size))
    for step in range(start_step, steps_per_epoch(len(split), batch_size, world_size)):
        chosen = indices[step * batch_size : (step + 1) * batch_size]
        images = split.images[chosen]
        if augment:
            generator = torch.Generator().manual_seed(_step_seed(seed, epoch, step, rank))
            images = crop_flip(images, crop_padding, generator)
        yield images, split.labels[chosen]


def eval_batches(
    split: Split, batch_size: int, *, rank: int = 0, world_size: int = 1
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield this rank's share (every world_size-th sample) of `split` in fixed order."""
    images, labels = split.images[rank::world_size], split.labels[rank::world_size]
    for start in range(0, len(labels), batch_size):
        yield images[start : start + batch_size], labels[start : start + batch_size]
