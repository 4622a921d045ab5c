"""`TraceConfig`: which epochs, steps, layers and operations a capture records, and its budget.

It is the `trace:` section of the `thrifty train` YAML config and the `config` argument of
`thrifty.trace.capture`. The defaults record everything (every pass, every layer, all three
operations) up to `max_bytes` of tensor files.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from thrifty._config import FrozenConfig

#: The three training operations of a convolution or linear layer (docs/design.md §5).
OPS: tuple[str, ...] = ("forward", "backward_data", "backward_weight")

#: Default byte budget of the tensor files of one store (1 GiB): large enough for every layer of
#: ResNet-18 at batch 32 for a few steps, small enough not to fill a laptop disk by accident.
DEFAULT_MAX_BYTES: int = 1 << 30

Op = Literal["forward", "backward_data", "backward_weight"]


class TraceConfig(FrozenConfig):
    """What a capture records. Every field has a default; the default records everything."""

    schema_version: Literal[1] = Field(1, description="Version of this config's layout.")
    epochs: list[int] | Literal["all"] = Field(
        default="all",
        description="Epochs to capture (0-based, as passed to `Capture.step(epoch=...)`), "
        "or 'all'.",
    )
    steps: list[int] | Literal["all", "first", "last"] = Field(
        default="all",
        description="Steps to capture inside each chosen epoch: 'all'; 'first' (the first "
        "`Capture.step` call of the epoch); 'last' (the call made with `last_step=True`); or a "
        "list of step numbers as passed to `Capture.step(step=...)`.",
    )
    layers: list[str] = Field(
        default_factory=lambda: ["*"],
        description="fnmatch patterns on module names (as in `model.named_modules()`); a "
        "Conv1d/Conv2d/Linear layer is captured when any pattern matches.",
    )
    functions: bool = Field(
        default=True,
        description="Also record products of activations called as torch functions in the "
        "model's forward (torch.matmul, @, torch.bmm, F.scaled_dot_product_attention, by its "
        "decomposition); their entries are named after the function and matched by `layers`.",
    )
    ops: list[Op] = Field(
        default_factory=lambda: list(OPS),
        description="Operations to record: forward, backward_data, backward_weight.",
    )
    max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES,
        gt=0,
        description="Budget in bytes for the tensor files of one store (per rank); when the "
        "next file would exceed it, capturing stops with a warning and training goes on.",
    )
    ranks: Literal["zero", "all"] = Field(
        default="zero",
        description="Under torch.distributed: 'zero' captures on rank 0 only, into the folder "
        "itself; 'all' captures on every rank, into sub-folders rank0, rank1, ...",
    )

    @field_validator("epochs", "steps")
    @classmethod
    def _non_negative(cls, value: object) -> object:
        if isinstance(value, list) and any(item < 0 for item in value):
            raise ValueError(f"numbers must be >= 0 (0-based), got {value}")
        return value

    @field_validator("layers")
    @classmethod
    def _some_layers(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one pattern; use ['*'] for every layer")
        return value

    @field_validator("ops")
    @classmethod
    def _some_ops(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"give at least one of {list(OPS)}")
        if len(set(value)) != len(value):
            raise ValueError(f"each operation at most once, got {value}")
        return value

    def wants_epoch(self, epoch: int) -> bool:
        """Whether `epoch` is one of the chosen epochs."""
        return self.epochs == "all" or epoch in self.epochs

    def wants_step(self, step: int, first: bool, last: bool) -> bool:
        """Whether a step (number, first of its epoch?, marked last?) is one of the chosen."""
        if self.steps == "all":
            return True
        if self.steps == "first":
            return first
        if self.steps == "last":
            return last
        return step in self.steps
