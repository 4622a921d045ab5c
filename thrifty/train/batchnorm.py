"""Re-estimating batch-norm statistics for the weights a model has now.

Freezing rounds every bitlength up, and fine-tuning moves the weights: the running mean and
variance a batch norm collected before describe activations the model no longer produces.
`reestimate_batchnorm` replaces them by a plain average over a few training batches of the
current model, the way a BN layer's statistics are recomputed after pruning or quantization.
The train config's `batchnorm_reestimate` calls it after `freeze` and before the final test.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def batch_norms(model: nn.Module) -> list[_BatchNorm]:
    """Every batch-norm layer of `model` (BatchNorm1d/2d/3d, SyncBatchNorm)."""
    return [module for module in model.modules() if isinstance(module, _BatchNorm)]


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, inputs: Iterable[torch.Tensor]) -> int:
    """Reset every batch norm's running statistics and set them to the plain average of the
    batch statistics over `inputs` (forward passes only); return the number of batches used.

    Only the batch norms run in training mode: every other module (quantizers with their
    moving-average ranges, dropout) stays in evaluation mode, so nothing else changes. Each
    module's mode and momentum are as they were on return. A model without batch norm is left
    untouched (0 batches are run).
    """
    norms = batch_norms(model)
    if not norms:
        return 0
    batches = iter(inputs)
    first = next(batches, None)
    if first is None:
        raise ValueError(
            "reestimate_batchnorm got no input batch; the batch norms keep their statistics "
            "only when at least one batch replaces them"
        )
    modes = {module: module.training for module in model.modules()}
    momenta = [norm.momentum for norm in norms]
    try:
        model.eval()
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average: every batch counts the same
            norm.train()
        count = 0
        for batch in itertools.chain([first], batches):
            model(batch)
            count += 1
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        for module, training in modes.items():
            module.training = training
    return count
