"""One training epoch and one evaluation: the plain loop every phase of the recipe uses."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from thrifty.data import Split, eval_batches, train_batches
from thrifty.train.distributed import DistEnv, all_reduce_sum


@dataclass
class EpochTotals:
    """Running sums of one epoch (summed over ranks at checkpoints, so they resume exactly)."""

    loss_sum: float = 0.0
    correct: float = 0.0
    count: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_list(self) -> list[float]:
        return [self.loss_sum, self.correct, self.count]


@torch.no_grad()
def evaluate(
    model: nn.Module, split: Split, batch_size: int, device: torch.device, env: DistEnv
) -> tuple[float, float]:
    """Mean cross-entropy and top-1 accuracy on `split` (each rank takes a share; summed)."""
    was_training = model.training
    model.eval()
    loss_sum = correct = count = 0.0
    for images, labels in eval_batches(split, batch_size, rank=env.rank, world_size=env.world_size):
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        loss_sum += float(F.cross_entropy(logits, labels, reduction="sum").item())
        correct += float((logits.argmax(1) == labels).sum().item())
        count += len(labels)
    loss_sum, correct, count = all_reduce_sum([loss_sum, correct, count], device, env)
    model.train(was_training)
    if count == 0:
        return float("nan"), float("nan")
    return loss_sum / count, correct / count


def train_epoch(
    model: nn.Module,
    split: Split,
    optimizer: torch.optim.Optimizer,
    *,
    batch_size: int,
    epoch: int,
    seed: int,
    device: torch.device,
    env: DistEnv,
    augment: bool,
    crop_padding: int,
    start_step: int,
    totals: EpochTotals,
    extra_loss: Callable[[], torch.Tensor] | None = None,
    distill: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    before_step: Callable[[int], None] | None = None,
    after_step: Callable[[int, float], None] | None = None,
    on_nonfinite: Callable[[int, float], None] | None = None,
) -> EpochTotals:
    """Train one epoch from batch `start_step`, adding to `totals` (task loss and accuracy).

    `distill(images, logits, task)`, when given, replaces the task loss by its objective
    (knowledge distillation; totals still record the task loss). `extra_loss` (the bitlength
    regularizer) is added to it; `before_step(step)`
    runs before every step (trace capture) and `after_step(step, loss)` after every optimizer
    step (progress, step checkpoints). A NaN or infinite loss calls `on_nonfinite(step, loss)`
    before any update: it raises to stop, or returns to skip the batch (no update, no totals).
    """
    model.train()
    batches = train_batches(
        split,
        batch_size,
        epoch,
        seed,
        rank=env.rank,
        world_size=env.world_size,
        augment=augment,
        crop_padding=crop_padding,
        start_step=start_step,
    )
    for step, (images, labels) in enumerate(batches, start=start_step):
        if before_step is not None:
            before_step(step)
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        task = F.cross_entropy(logits, labels)
        loss = task if distill is None else distill(images, logits, task)
        if extra_loss is not None:
            loss = loss + extra_loss()
        loss_value = float(loss.detach().item())
        if not math.isfinite(loss_value) and on_nonfinite is not None:
            on_nonfinite(step, loss_value)  # raises, or returns to skip this batch
            if after_step is not None:
                after_step(step, loss_value)
            continue
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        task_value = float(task.detach().item())
        totals.loss_sum += task_value * len(labels)
        totals.correct += float((logits.detach().argmax(1) == labels).sum().item())
        totals.count += len(labels)
        if after_step is not None:
            after_step(step, task_value)
    return totals
