"""The training config: one YAML file, validated with pydantic, overridable with `--set`.

Every section has defaults, so `{}` is a valid config (small CNN on digits). Unknown keys and
wrong types are ConfigErrors that name the dotted key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from thrifty._config import FrozenConfig, apply_overrides, parse_config, read_yaml_mapping
from thrifty.data.config import DataConfig
from thrifty.quant.config import QuantConfig, TermsConfig
from thrifty.trace.config import TraceConfig
from thrifty.train.distill import DistillConfig
from thrifty.train.pruning import PruningConfig

#: Version of the training-config schema, recorded in every run folder.
TRAIN_SCHEMA_VERSION = 1


class ModelConfig(FrozenConfig):
    """Which registered model to build; its input shape and classes come from the data."""

    name: Literal["small_cnn", "lenet5", "resnet20", "resnet18", "vit_tiny"] = Field(
        "small_cnn", description="A model registered in thrifty.models."
    )
    pretrained: str | None = Field(
        None,
        description="Your pretrained weights for this model: a state-dict file "
        "(torch.save(model.state_dict(), path)), loaded before the first phase. None: random "
        "initialisation. With phases.float.epochs=0 the recipe fine-tunes them directly.",
    )


class OptimizerConfig(FrozenConfig):
    """The optimizer used in every phase (rebuilt at the start of each phase)."""

    name: Literal["sgd", "adam", "adamw"] = Field("adam", description="torch.optim optimizer.")
    lr: float = Field(1e-3, gt=0, description="Learning rate of the weights.")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (sgd only).")
    weight_decay: float = Field(0.0, ge=0, description="Weight decay of the weights.")
    bits_lr: float | None = Field(
        None,
        gt=0,
        description="Learning rate of the bitlengths in phase 'learn' (None: the default of "
        "thrifty.param_groups). Bitlengths never get weight decay.",
    )


class ScheduleConfig(FrozenConfig):
    """Learning-rate schedule, restarted at the start of every phase; stepped once per epoch."""

    name: Literal["constant", "cosine", "step"] = Field("cosine", description="Schedule shape.")
    step_epochs: int = Field(10, ge=1, description="'step': epochs between decays.")
    gamma: float = Field(0.1, gt=0, le=1, description="'step': decay factor.")


class RegularizerConfig(FrozenConfig):
    """The bitlength regularizer of phase 'learn' (thrifty.BitlengthRegularizer)."""

    criterion: Literal["bits", "memory", "bitops", "terms"] = Field(
        "bits",
        description="Cost the regularizer lowers: mean bits, memory, bit-operations, or the "
        "terms a term-serial PE spends per serial value (options in 'terms').",
    )
    terms: TermsConfig | None = Field(
        None,
        description="Options of criterion 'terms' (serial operand, statistic, lanes, "
        "encoding); None: their defaults. Only with criterion 'terms'.",
    )
    strength: float = Field(0.05, ge=0, description="λ, the weight of the cost in the loss.")
    target: float | None = Field(
        None,
        description="Target cost (e.g. 4.0 mean bits); λ adapts to reach it. None: fixed λ.",
    )

    @model_validator(mode="after")
    def _terms_only_with_terms(self) -> RegularizerConfig:
        if self.terms is not None and self.criterion != "terms":
            raise ValueError(
                f"regularizer.terms sets options of criterion 'terms', but the criterion is "
                f"{self.criterion!r}; set regularizer.criterion=terms or remove regularizer.terms"
            )
        return self


class FloatPhase(FrozenConfig):
    """Phase 1a: train the float model, or start from a float checkpoint."""

    epochs: int = Field(5, ge=0, description="Epochs of float training (ignored with checkpoint).")
    checkpoint: str | None = Field(
        None,
        description="A float model state dict (e.g. float_model.pt of an earlier run) to start "
        "from instead of training.",
    )
    lr: float | None = Field(None, gt=0, description="Learning rate (None: optimizer.lr).")


class TrainPhase(FrozenConfig):
    """A quantized phase: learning bitlengths, or fine-tuning after freeze."""

    epochs: int = Field(3, ge=0, description="Epochs of this phase.")
    lr: float | None = Field(None, gt=0, description="Learning rate (None: optimizer.lr).")


class Phases(FrozenConfig):
    """The recipe: float, then learn weights and bitlengths, then freeze and fine-tune."""

    float: FloatPhase = Field(default_factory=FloatPhase)
    learn: TrainPhase = Field(default_factory=TrainPhase)
    finetune: TrainPhase = Field(default_factory=lambda: TrainPhase(epochs=2))

    @property
    def quantizes(self) -> bool:
        """True when a quantized phase (learn or finetune) has epochs; else the run trains
        the float model only."""
        return self.learn.epochs > 0 or self.finetune.epochs > 0


class CheckpointConfig(FrozenConfig):
    """When to write the (atomic) resume checkpoint; it is always written after every epoch."""

    every_steps: int | None = Field(
        None, ge=1, description="Also write it every this many training steps (None: epochs only)."
    )


class DistributedConfig(FrozenConfig):
    """Multi-process data-parallel training (torch DDP)."""

    backend: Literal["auto", "gloo", "nccl"] = Field(
        "auto", description="auto: nccl on CUDA, gloo on the CPU."
    )
    save_rank_states: bool = Field(
        False,
        description="Each rank writes its final state dict to ranks/rank<r>.pt (for checking "
        "that bitlengths and ranges agree on all ranks).",
    )


class GradientConfig(FrozenConfig):
    """Fixed per-layer significand width of every layer's output gradient (thrifty.quant.gradient).

    Fixed, not learned: the task loss does not depend on the gradient's precision, so it has
    no derivative to learn the width from (see thrifty/quant/gradient.py).
    """

    bits: int = Field(
        7, ge=0, le=23, description="Fraction bits of the output gradient (7: bfloat16)."
    )
    layers: dict[str, int] = Field(
        default_factory=dict, description="Per-layer overrides: module name -> fraction bits."
    )


class TrainConfig(FrozenConfig):
    """A whole training run: model, data, optimizer, quantization, regularizer and phases."""

    schema_version: Literal[1] = Field(TRAIN_SCHEMA_VERSION, description="Config schema version.")
    seed: int = Field(0, description="Seed of weights, batch order, augmentation and dropout.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA when available, else the CPU."
    )
    out: str = Field("runs/run", description="Run folder (the CLI's --out overrides it).")
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    quant: QuantConfig = Field(
        default_factory=QuantConfig,
        description="Quantization of the learn and finetune phases (see quantization.md).",
    )
    regularizer: RegularizerConfig = Field(default_factory=RegularizerConfig)
    phases: Phases = Field(default_factory=Phases)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)
    trace: TraceConfig | None = Field(
        None, description="Capture of the training operands of every phase; None: no trace."
    )
    pruning: PruningConfig | None = Field(
        None, description="Gradual magnitude pruning during the float phase; None: no pruning."
    )
    distill: DistillConfig | None = Field(
        None,
        description="Knowledge distillation from the float model in the learn and finetune "
        "phases (thrifty.train.distill); None: labels only.",
    )
    gradients: GradientConfig | None = Field(
        None,
        description="Round each layer's output gradient to a fixed significand width in every "
        "phase; None: float32 gradients.",
    )
    final_model: Literal["last", "best_val"] = Field(
        "last",
        description="The weights the run ends with (tested, saved as model.pt): 'last', those "
        "of the last epoch; 'best_val', those of the epoch of the run's last phase (finetune, "
        "or float in a float-only run) with the highest validation accuracy, the first of "
        "ties: early stopping's model selection. Apply it to float and quantized runs alike, "
        "so that a reference which overfits with longer training does not flatter a "
        "comparison. Needs a validation split (data.val_fraction > 0).",
    )
    batchnorm_reestimate: int = Field(
        0,
        ge=0,
        description="Training batches (no augmentation, forward only) over which every batch "
        "norm's running statistics are re-estimated as a plain average, twice: after freeze "
        "(the start of phase finetune) and before the final test (after final_model's "
        "restore). 0: never. Only in runs with quantized phases "
        "(thrifty.train.batchnorm.reestimate_batchnorm).",
    )
    nonfinite_loss: Literal["stop", "skip"] = Field(
        "stop",
        description="A training step whose loss is NaN or infinite: stop (raise TrainingError "
        "naming phase, epoch and step; the run folder keeps its last good checkpoint) or skip "
        "(no update for that batch; summary.json counts them in skipped_steps). Single-process "
        "runs only for skip.",
    )

    @model_validator(mode="after")
    def _best_val_has_epochs_to_choose_from(self) -> TrainConfig:
        """'best_val' chooses among the epochs of the last phase: it must have some, and a
        validation split to choose on (never the test split)."""
        if self.final_model != "best_val":
            return self
        if self.data.val_fraction == 0:
            raise ValueError(
                "final_model=best_val chooses an epoch on the validation split, and "
                "data.val_fraction is 0; set data.val_fraction > 0 (e.g. 0.1), or "
                "final_model=last"
            )
        phases = self.phases
        if phases.quantizes and phases.finetune.epochs == 0:
            raise ValueError(
                "final_model=best_val chooses among the epochs of phase 'finetune' (after "
                "freeze), which has 0 epochs; set phases.finetune.epochs > 0, or "
                "final_model=last"
            )
        if not phases.quantizes and (
            phases.float.checkpoint is not None or phases.float.epochs == 0
        ):
            raise ValueError(
                "final_model=best_val chooses among the epochs of the float phase of this "
                "float-only run, which trains none; set phases.float.epochs > 0 (and "
                "phases.float.checkpoint=null), or final_model=last"
            )
        return self

    @model_validator(mode="after")
    def _batchnorm_reestimate_needs_a_quantized_phase(self) -> TrainConfig:
        """The re-estimation follows freeze: a float-only run has none to follow."""
        if self.batchnorm_reestimate and not self.phases.quantizes:
            raise ValueError(
                "batchnorm_reestimate re-estimates batch-norm statistics after freeze, and this "
                "run has no quantized phase (phases.learn.epochs and phases.finetune.epochs are "
                "0); set batchnorm_reestimate=0, or give phase finetune epochs"
            )
        return self

    @model_validator(mode="after")
    def _pruning_has_a_float_phase_to_itself(self) -> TrainConfig:
        """Pruning runs during the float phase and is made permanent when it ends; quantized
        phases after it are refused, because their weight updates would regrow pruned weights."""
        if self.pruning is None:
            return self
        phases = self.phases
        if phases.quantizes:
            raise ValueError(
                "config section 'pruning' prunes during the float phase only; set "
                "phases.learn.epochs=0 and phases.finetune.epochs=0 (train the pruned variant "
                "and the learned-bits variants as separate runs)"
            )
        if phases.float.checkpoint is not None or phases.float.epochs == 0:
            raise ValueError(
                "config section 'pruning' needs float training to prune in: set "
                "phases.float.epochs > 0 and phases.float.checkpoint=null"
            )
        return self


def load_train_config(
    path: str | Path | None = None, overrides: Sequence[str] = (), out: str | None = None
) -> TrainConfig:
    """Read a YAML training config (or start from the defaults), apply overrides, validate."""
    data: Mapping[str, Any] = {}
    where = "training config"
    if path is not None:
        data = read_yaml_mapping(path)
        where = f"config {str(path)!r}"
    merged = apply_overrides(data, overrides)
    if out is not None:
        merged["out"] = out
    return parse_config(TrainConfig, merged, where)


def config_to_yaml(config: TrainConfig) -> str:
    """The resolved config as YAML (what the run folder records as config.yaml)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
