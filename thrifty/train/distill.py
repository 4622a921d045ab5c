"""Knowledge distillation from the float model during the quantized phases (an option).

The quantized student matches the float teacher's softened outputs as well as the labels:

    objective = (1 − w)·CE(student, labels) + w·T²·KL(softmax(teacher/T) ‖ softmax(student/T))

(Hinton et al., 2015; T² keeps the soft term's gradient scale independent of T). The teacher is
the model as the float phase left it (the run folder's `float_model.pt`), in evaluation mode
and without gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from thrifty._config import FrozenConfig


class DistillConfig(FrozenConfig):
    """Distill the float model into the quantized one in the learn and fine-tune phases."""

    weight: float = Field(
        0.5, ge=0, le=1, description="w: share of the soft (teacher) term in the objective."
    )
    temperature: float = Field(2.0, gt=0, description="T: softmax temperature of both models.")


class Distiller:
    """Callable (images, student logits, task loss) → the distillation objective."""

    def __init__(self, teacher: torch.nn.Module, config: DistillConfig) -> None:
        self.teacher = teacher.eval()
        for parameter in self.teacher.parameters():
            parameter.requires_grad_(False)
        self.weight = config.weight
        self.temperature = config.temperature

    def __call__(
        self, images: torch.Tensor, logits: torch.Tensor, task: torch.Tensor
    ) -> torch.Tensor:
        with torch.no_grad():
            soft_targets = F.log_softmax(self.teacher(images) / self.temperature, dim=1)
        soft = F.kl_div(
            F.log_softmax(logits / self.temperature, dim=1),
            soft_targets,
            log_target=True,
            reduction="batchmean",
        )
        return (1.0 - self.weight) * task + self.weight * self.temperature**2 * soft
