"""The two-phase recipe as one resumable run: float → learn bitlengths → freeze and fine-tune.

`train(config)` writes a run folder:

- `config.yaml`     the resolved config;
- `metrics.jsonl`   one line per epoch (phase, loss, accuracy, mean bits, λ, cost, ...);
- `checkpoint.pt`   the atomic resume checkpoint (every epoch, optionally every N steps);
- `float_model.pt`  the float model's state dict when the float phase ends (reusable as
                    `phases.float.checkpoint` of other runs);
- `model.pt`        the final model's state dict;
- `bitlengths.json` per-layer bitlengths and the means; `summary.json` the results;
- `run.lock`        the PID of the process running in the folder (thrifty.train.run_lock);
- `trace/<phase>/`  with a `trace:` section, the captured training operands of each phase
                    (thrifty.trace; `epochs` there count from 0 over all phases).

Checkpoints are only written inside a phase and hold a model of that phase's structure
(float, quantized, or quantized and frozen), so resuming rebuilds the same structure first.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import itertools
import json
import math
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from thrifty._io import atomic_path, write_json_atomic, write_text_atomic
from thrifty._process_state import preserved_process_state
from thrifty._provenance import provenance
from thrifty.data import DataSplits, load_data, steps_per_epoch, train_batches
from thrifty.errors import CheckpointError, ConfigError, TrainingError
from thrifty.models import build_model
from thrifty.quant import BitlengthRegularizer, freeze, param_groups, quantize, summary
from thrifty.trace import capture
from thrifty.train.batchnorm import reestimate_batchnorm
from thrifty.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from thrifty.train.config import TrainConfig, config_to_yaml
from thrifty.train.distill import Distiller
from thrifty.train.distributed import (
    DistEnv,
    all_reduce_sum,
    broadcast_state,
    check_ranks_identical,
    destroy_process_group,
    env_from_environment,
    init_process_group,
)
from thrifty.train.loop import EpochTotals, evaluate, train_epoch
from thrifty.train.pretrained import load_pretrained
from thrifty.train.progress import Reporter
from thrifty.train.pruning import MagnitudePruner, make_permanent
from thrifty.train.run_lock import RunLock

#: The recipe's phases, in order.
PHASES = ("float", "learn", "finetune")

#: File names inside a run folder.
CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
BITLENGTHS_FILE = "bitlengths.json"
CONFIG_FILE = "config.yaml"
FLOAT_MODEL_FILE = "float_model.pt"
MODEL_FILE = "model.pt"
#: The weights of the best validation epoch so far (final_model=best_val).
BEST_MODEL_FILE = "best_val_model.pt"
#: Batch orders of the batch-norm re-estimations (batchnorm_reestimate), apart from every
#: training epoch's (`_epoch_key`).
BN_AFTER_FREEZE, BN_FINAL = 10**6, 10**6 + 1
TRACE_FOLDER = "trace"


@dataclass
class RunState:
    """Where the run stands: phase, completed epochs in it, completed steps in this epoch."""

    phase: str = "float"
    epoch: int = 0
    step: int = 0
    global_step: int = 0
    totals: EpochTotals = field(default_factory=EpochTotals)
    records: list[dict[str, Any]] = field(default_factory=list)
    float_accuracy: float | None = None
    skipped_steps: int = 0  # steps whose loss was not finite, with nonfinite_loss: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "epoch": self.epoch,
            "step": self.step,
            "global_step": self.global_step,
            "totals": self.totals.as_list(),
            "records_json": json.dumps(self.records),
            "float_accuracy": self.float_accuracy,
            "skipped_steps": self.skipped_steps,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        loss_sum, correct, count = data["totals"]
        return cls(
            phase=data["phase"],
            epoch=data["epoch"],
            step=data["step"],
            global_step=data["global_step"],
            totals=EpochTotals(loss_sum, correct, count),
            records=json.loads(data["records_json"]),
            float_accuracy=data["float_accuracy"],
            skipped_steps=data.get("skipped_steps", 0),
        )


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and Python's random module."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def resolve_device(name: str, env: DistEnv) -> torch.device:
    """`auto` → CUDA when available; with several processes on CUDA, one GPU per local rank."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but CUDA is not available; use auto or cpu")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", env.local_rank % torch.cuda.device_count())


def _schedule(name: str, epochs: int, step_epochs: int, gamma: float):
    if name == "cosine":
        return lambda e: 0.5 * (1.0 + math.cos(math.pi * e / max(epochs, 1)))
    if name == "step":
        return lambda e: gamma ** (e // step_epochs)
    return lambda e: 1.0


def _config_differences(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list:
    keys = sorted(set(saved) | set(current))
    diffs = []
    for key in keys:
        name = f"{prefix}{key}"
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _config_differences(a, b, name + ".")
        elif a != b and name != "out":
            diffs.append(name)
    return diffs


def _optimizer_groups(
    model: nn.Module, lr: float, bits_lr: float | None, weight_decay: float, quantized: bool
) -> list[dict[str, Any]]:
    """Parameter groups: the bitlengths apart (own lr, no decay) once the model is quantized;
    parameters that do not learn (frozen bitlengths) are left out."""
    if not quantized:
        params = [p for p in model.parameters() if p.requires_grad]
        return [{"params": params, "lr": lr, "weight_decay": weight_decay}]
    kept = []
    for group in param_groups(model, lr, bits_lr=bits_lr, weight_decay=weight_decay):
        params = [p for p in group["params"] if p.requires_grad]
        if params:
            kept.append({**group, "params": params})
    return kept


def _model_summary(model: nn.Module) -> dict[str, Any]:
    """thrifty.summary(model) as a dict: per-layer records under 'layers' plus the means."""
    data = dict(summary(model).to_dict())
    data["layers"] = data.pop("records")
    return data


def _regularizer_values(regularizer: BitlengthRegularizer | None) -> tuple[Any, Any]:
    """(λ, cost) the regularizer holds now (None, None outside phase 'learn')."""
    if regularizer is None:
        return None, None
    return regularizer.strength, regularizer.cost


class _Run:
    """One run of the recipe in one process (one rank)."""

    def __init__(
        self,
        config: TrainConfig,
        resume: bool,
        reporter: Reporter,
        env: DistEnv,
        device: torch.device,
        data: DataSplits | None,
        model: nn.Module | None,
    ) -> None:
        self.config, self.reporter, self.env, self.device = config, reporter, env, device
        self.out = Path(config.out)
        self.checkpoint_path = self.out / CHECKPOINT_FILE
        seed_everything(config.seed)
        self.data: DataSplits = load_data(config.data) if data is None else data
        if self.data.note and env.is_main:
            reporter.message(self.data.note)
        model_name = config.model.name if model is None else type(model).__name__
        if model is None:
            model = build_model(
                config.model.name,
                num_classes=self.data.num_classes,
                in_channels=self.data.in_channels,
                image_size=self.data.image_size,
            )
        if config.model.pretrained is not None and not resume:
            load_pretrained(model, config.model.pretrained, model_name)
        # A float copy to hold the distillation teacher (a resumed run's model is quantized).
        self.float_template = copy.deepcopy(model) if config.distill is not None else None
        self.model: nn.Module = model.to(device)
        self.quantized = self.frozen = False
        pruning = config.pruning
        self.pruner = None if pruning is None else MagnitudePruner(self.model, pruning)
        self.pruned_sparsity: dict[str, float] | None = None
        self.gradient_hooks: Any = None
        self._attach_gradient_hooks()
        self.state = RunState()
        self.payload: dict[str, Any] | None = None
        self.float_state: dict[str, torch.Tensor] | None = None  # the distillation teacher
        self.distiller: Distiller | None = None
        self.best_state: dict[str, torch.Tensor] | None = None  # final_model=best_val
        self.bn_batches = 0  # batches of the last batch-norm re-estimation
        if resume:
            self._load_for_resume()
        elif self.checkpoint_path.exists():
            raise CheckpointError(
                f"run folder {str(self.out)!r} already holds a checkpoint; pass --resume to "
                "continue it, or choose another --out"
            )
        if env.is_main:
            write_text_atomic(self.out / CONFIG_FILE, config_to_yaml(config))

    # -- structure --------------------------------------------------------------------------
    def _attach_gradient_hooks(self) -> None:
        """(Re)attach the output-gradient rounding of `gradients:` to the current layers."""
        if self.config.gradients is None:
            return
        from thrifty.quant.gradient import quantize_gradients

        if self.gradient_hooks is not None:
            self.gradient_hooks.remove()
        gradients = self.config.gradients
        self.gradient_hooks = quantize_gradients(self.model, gradients.bits, gradients.layers)

    def _set_structure(self, phase: str) -> None:
        """Quantize (learn, finetune) and freeze (finetune) the model as the phase needs."""
        if phase != "float" and not self.quantized:
            quantize(self.model, self.config.quant)
            self.model.to(self.device)
            self.quantized = True
            self._attach_gradient_hooks()  # quantize() replaced the layers
        if phase == "finetune" and not self.frozen:
            freeze(self.model)
            self.frozen = True

    def _load_for_resume(self) -> None:
        payload = load_checkpoint(self.checkpoint_path)
        saved_config = payload["config"]
        diffs = _config_differences(saved_config, self.config.model_dump(mode="json"))
        if diffs:
            raise ConfigError(
                f"cannot resume {str(self.out)!r}: the config differs from the checkpoint's in "
                f"{', '.join(diffs)}; resume with the same config (see config.yaml in the run)"
            )
        self.state = RunState.from_dict(payload["state"])
        if self.env.is_main:
            state = self.state
            steps = steps_per_epoch(
                len(self.data.train), self.config.data.batch_size, self.env.world_size
            )
            self.reporter.message(
                f"resuming from step {state.epoch * steps + state.step} of phase "
                f"{state.phase!r} ({steps} steps per epoch; {state.global_step} steps done over "
                "all phases)"
            )
        self._set_structure(self.state.phase)
        if self.pruner is not None and payload.get("pruning"):
            self.pruner.load_state_dict(payload["pruning"])
        self.model.load_state_dict(payload["model"])
        self.payload = payload

    # -- output -----------------------------------------------------------------------------
    def _check_finite_weights(self) -> None:
        """Refuse to checkpoint NaN or infinite weights: the folder keeps the last good state."""
        bad = [n for n, p in self.model.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise TrainingError(
                f"the weights became NaN or infinite ({', '.join(bad[:3])}"
                f"{', ...' if len(bad) > 3 else ''}) in phase {self.state.phase!r} after "
                f"{self.state.epoch} epochs and {self.state.step} steps of its next epoch; "
                f"{self._kept()} lower optimizer.lr (or the phase's lr) and train again"
            )

    def _kept(self) -> str:
        """What the run folder still holds, for the messages of a stopped run."""
        if self.checkpoint_path.exists():
            return f"{str(self.checkpoint_path)!r} keeps the last good state;"
        return "no checkpoint was written yet;"

    def _nonfinite_loss(self, phase: str, epoch: int, epochs: int, steps: int, step: int,
                        loss: float) -> None:  # fmt: skip
        """A step's loss is NaN or infinite: stop with a named error, or count a skipped step."""
        if self.config.nonfinite_loss == "skip":
            self.state.skipped_steps += 1
            return
        raise TrainingError(
            f"the loss became {loss} in phase {phase!r}, epoch {epoch + 1}/{epochs}, step "
            f"{step + 1}/{steps}; training stopped and {self._kept()} lower optimizer.lr (or the "
            "phase's lr), or set nonfinite_loss=skip to skip such steps"
        )

    def _write_checkpoint(self, optimizer, scheduler, regularizer) -> None:
        state = self.state
        self._check_finite_weights()
        if self.env.enabled:
            # Rank 0 stores the epoch's totals over all ranks; the others resume from zero.
            summed = all_reduce_sum(state.totals.as_list(), self.device, self.env)
        else:
            summed = state.totals.as_list()
        if not self.env.is_main:
            return
        saved = RunState(**{**state.__dict__, "totals": EpochTotals(*summed)})
        save_checkpoint(
            self.checkpoint_path,
            {
                "config": self.config.model_dump(mode="json"),
                "state": saved.to_dict(),
                "model": self.model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "regularizer": {} if regularizer is None else regularizer.state_dict(),
                "pruning": None if self.pruner is None else self.pruner.state_dict(),
                "rng": rng_state(),
            },
        )

    def _write_metrics(self) -> None:
        if self.env.is_main:
            lines = "".join(json.dumps(r) + "\n" for r in self.state.records)
            write_text_atomic(self.out / METRICS_FILE, lines)

    def _save_state_dict(self, name: str) -> None:
        if self.env.is_main:
            with atomic_path(self.out / name) as tmp:
                torch.save(self.model.state_dict(), tmp)

    # -- phases -----------------------------------------------------------------------------
    def _phase_epochs(self, phase: str) -> int:
        phases = self.config.phases
        if phase == "float":
            return 0 if phases.float.checkpoint else phases.float.epochs
        return getattr(phases, phase).epochs

    def _load_float_checkpoint(self, path: str) -> None:
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
            self.model.load_state_dict(state.get("model", state))
        except FileNotFoundError:
            raise CheckpointError(
                f"float checkpoint {path!r} does not exist; set phases.float.checkpoint to a "
                "float_model.pt of an earlier run, or to null to train the float model"
            ) from None
        except (RuntimeError, KeyError, AttributeError) as error:
            raise CheckpointError(
                f"float checkpoint {path!r} does not match model "
                f"{self.config.model.name!r}: {error}"
            ) from None

    def _make_optimizer(self, phase: str) -> tuple[torch.optim.Optimizer, Any]:
        config = self.config
        phase_lr = getattr(config.phases, phase).lr
        lr = phase_lr if phase_lr is not None else config.optimizer.lr
        bits_lr = config.optimizer.bits_lr if phase == "learn" else None
        groups = _optimizer_groups(
            self.model, lr, bits_lr, config.optimizer.weight_decay, self.quantized
        )
        opt = config.optimizer
        if opt.name == "sgd":
            optimizer: torch.optim.Optimizer = torch.optim.SGD(groups, lr=lr, momentum=opt.momentum)
        elif opt.name == "adam":
            optimizer = torch.optim.Adam(groups, lr=lr)
        else:
            optimizer = torch.optim.AdamW(groups, lr=lr)
        sched = config.schedule
        factor = _schedule(sched.name, self._phase_epochs(phase), sched.step_epochs, sched.gamma)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    def _wrap(self) -> nn.Module:
        if not self.env.enabled:
            return self.model
        from torch.nn.parallel import DistributedDataParallel

        broadcast_state(self.model, self.env)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        # Buffers (activation ranges, batch-norm statistics) follow rank 0 at every forward.
        parameters = inspect.signature(DistributedDataParallel.__init__).parameters
        sync = (
            "forward_sync_buffers" if "forward_sync_buffers" in parameters else "broadcast_buffers"
        )
        # 1-channel first convolutions give weight gradients DDP re-strides: harmless, noisy.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
        return DistributedDataParallel(self.model, device_ids=device_ids, **{sync: True})

    def run_phase(self, phase: str) -> None:
        self._set_structure(phase)
        epochs = self._phase_epochs(phase)
        resuming = self.payload is not None
        if phase == "float" and not resuming and self.config.phases.float.checkpoint:
            self._load_float_checkpoint(self.config.phases.float.checkpoint)
        if phase == "finetune" and not resuming:
            self._reestimate_batchnorm(BN_AFTER_FREEZE)
        optimizer, scheduler = self._make_optimizer(phase)
        regularizer = None
        if phase == "learn":
            regularizer = BitlengthRegularizer(
                self.model,
                criterion=self.config.regularizer.criterion,
                strength=self.config.regularizer.strength,
                target=self.config.regularizer.target,
                terms=self.config.regularizer.terms,
            )
        if resuming:
            payload, self.payload = self.payload, None
            optimizer.load_state_dict(payload["optimizer"])
            scheduler.load_state_dict(payload["scheduler"])
            if regularizer is not None and payload["regularizer"]:
                regularizer.load_state_dict(payload["regularizer"])
            if self.env.rank != 0:
                self.state.totals = EpochTotals()
            set_rng_state(payload["rng"])
        else:
            self.state.phase, self.state.epoch, self.state.step = phase, 0, 0
            self.state.totals = EpochTotals()
        self.distiller = self._distiller(phase)
        wrapped = self._wrap()
        capturing = epochs > self.state.epoch  # no trace folder for a phase with no steps
        with self._capture(phase) if capturing else contextlib.nullcontext() as trace:
            for epoch in range(self.state.epoch, epochs):
                self._run_epoch(
                    phase, epoch, epochs, wrapped, optimizer, scheduler, regularizer, trace
                )
        if regularizer is not None:
            regularizer.close()  # term counting (criterion 'terms') ends with the phase
        if phase == "float":
            if self.pruner is not None:
                self.pruned_sparsity = self.pruner.layer_sparsity()
                make_permanent(self.model)  # pruned weights become exact zeros
            self.state.float_accuracy = self._test_accuracy()
            self._save_state_dict(FLOAT_MODEL_FILE)
            if self.config.distill is not None:
                self.float_state = copy.deepcopy(self.model.state_dict())

    def _distiller(self, phase: str) -> Distiller | None:
        """The float teacher of `distill:` for a quantized phase (None without the section).

        The float model as the float phase ended: kept in memory, or read back from the run
        folder's float_model.pt when the run resumed past the float phase.
        """
        if self.config.distill is None or phase == "float":
            return None
        if self.float_state is None:
            path = self.out / FLOAT_MODEL_FILE
            self.float_state = torch.load(path, map_location=self.device, weights_only=True)
        teacher = copy.deepcopy(self.float_template).to(self.device)
        teacher.load_state_dict(self.float_state)
        return Distiller(teacher, self.config.distill)

    def _capture(self, phase: str) -> Any:
        """Trace capture of this phase into trace/<phase>/ (a no-op without `trace:`)."""
        if self.config.trace is None:
            return contextlib.nullcontext()
        return capture(self.model, self.out / TRACE_FOLDER / phase, self.config.trace)

    def _run_epoch(self, phase, epoch, epochs, wrapped, optimizer, scheduler, regularizer, trace):
        config, state, env = self.config, self.state, self.env
        started = time.perf_counter()
        data = self.data
        steps = steps_per_epoch(len(data.train), config.data.batch_size, env.world_size)
        if env.is_main:
            self.reporter.epoch_start(phase, epoch + 1, epochs, steps, state.step)
        every = config.checkpoint.every_steps

        global_epoch = len(state.records)  # 0-based over all phases: what trace epochs match

        def before_step(step: int) -> None:
            trace.step(epoch=global_epoch, step=step, last_step=step == steps - 1)

        def after_step(step: int, loss: float) -> None:
            if self.pruner is not None and phase == "float":
                self.pruner.step(state.global_step)
            state.step = step + 1
            state.global_step += 1
            if env.is_main:
                self.reporter.step(loss)
            if every is not None and state.global_step % every == 0 and state.step < steps:
                self._write_checkpoint(optimizer, scheduler, regularizer)

        train_epoch(
            wrapped,
            data.train,
            optimizer,
            batch_size=config.data.batch_size,
            epoch=_epoch_key(phase, epoch),
            seed=config.seed,
            device=self.device,
            env=env,
            augment=data.augment,
            crop_padding=config.data.crop_padding,
            start_step=state.step,
            totals=state.totals,
            extra_loss=regularizer,
            distill=self.distiller,
            before_step=before_step if trace is not None else None,
            after_step=after_step,
            on_nonfinite=lambda step, loss: self._nonfinite_loss(
                phase, epoch, epochs, steps, step, loss
            ),
        )
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        broadcast_state(self.model, env)
        loss_sum, correct, count = all_reduce_sum(state.totals.as_list(), self.device, env)
        eval_split = data.val if len(data.val) > 0 else data.test
        with trace.paused() if trace is not None else contextlib.nullcontext():
            val_loss, val_accuracy = evaluate(
                self.model, eval_split, config.data.eval_batch_size, self.device, env
            )
        record: dict[str, Any] = {
            "phase": phase,
            "epoch": epoch + 1,
            "epochs": epochs,
            "global_epoch": len(state.records) + 1,
            "lr": lr,
            "train_loss": loss_sum / max(count, 1),
            "train_accuracy": correct / max(count, 1),
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            **self._bits(),
        }
        record["lambda"], record["cost"] = _regularizer_values(regularizer)
        record["seconds"] = time.perf_counter() - started
        state.records.append(record)
        self._keep_if_best(phase, record)
        state.epoch, state.step, state.totals = epoch + 1, 0, EpochTotals()
        self._write_metrics()
        self._write_checkpoint(optimizer, scheduler, regularizer)
        if env.is_main:
            self.reporter.epoch_end(record)

    def _selection_phase(self) -> str:
        """The phase whose epochs final_model=best_val chooses among (the config checks that
        it has epochs)."""
        return "finetune" if self.config.phases.quantizes else "float"

    def _keep_if_best(self, phase: str, record: dict[str, Any]) -> None:
        """With final_model=best_val, keep the weights of an epoch of the selection phase that
        beats every earlier one on validation accuracy (in memory, and on disk for --resume)."""
        if self.config.final_model != "best_val" or phase != self._selection_phase():
            return
        earlier = [r["val_accuracy"] for r in self.state.records[:-1] if r["phase"] == phase]
        if earlier and record["val_accuracy"] <= max(earlier):
            return
        self.best_state = copy.deepcopy(self.model.state_dict())
        self._save_state_dict(BEST_MODEL_FILE)

    def _best_epoch(self) -> dict[str, Any]:
        """The record of the selection phase's best validation epoch (the first of ties)."""
        phase = self._selection_phase()
        records = [r for r in self.state.records if r["phase"] == phase]
        return max(records, key=lambda r: r["val_accuracy"])  # max keeps the first of ties

    def _restore_best(self) -> dict[str, Any]:
        """Load the best validation epoch's weights; return what the summary records of it."""
        if self.best_state is None:  # resumed after the best epoch was kept
            path = self.out / BEST_MODEL_FILE
            self.best_state = torch.load(path, map_location=self.device, weights_only=True)
        last_accuracy = self._test_accuracy()
        self.model.load_state_dict(self.best_state)
        best = self._best_epoch()
        return {
            "selected_epoch": best["global_epoch"],
            "selected_val_accuracy": best["val_accuracy"],
            "last_epoch_accuracy": last_accuracy,
        }

    def _reestimate_batchnorm(self, key: int) -> None:
        """With `batchnorm_reestimate: N`, the batch norms' statistics from the first N
        training batches of the batch order numbered `key` (without augmentation)."""
        count = self.config.batchnorm_reestimate
        if not count:
            return
        batches = train_batches(
            self.data.train, self.config.data.batch_size, key, self.config.seed,
            rank=self.env.rank, world_size=self.env.world_size,
        )  # fmt: skip
        inputs = (images.to(self.device) for images, _ in itertools.islice(batches, count))
        self.bn_batches = reestimate_batchnorm(self.model, inputs)

    def _bits(self) -> dict[str, Any]:
        keys = ("mean_bits", "mean_weight_bits", "mean_activation_bits")
        if not self.quantized:
            return dict.fromkeys(keys)
        means = _model_summary(self.model)
        return {key: means.get(key) for key in keys}

    def _test_accuracy(self) -> float:
        return evaluate(
            self.model, self.data.test, self.config.data.eval_batch_size, self.device, self.env
        )[1]

    # -- the whole run ----------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        quantizes = self.config.phases.quantizes
        phases = PHASES if quantizes else PHASES[:1]
        for phase in phases[phases.index(self.state.phase) :]:
            self.run_phase(phase)
        selection = {}
        if self.config.final_model == "best_val":
            selection = self._restore_best()
        if quantizes:
            self._reestimate_batchnorm(BN_FINAL)
        broadcast_state(self.model, self.env)
        consistent = check_ranks_identical(self.model, self.env)
        final_accuracy = self._test_accuracy()
        if self.config.distributed.save_rank_states:
            with atomic_path(self.out / "ranks" / f"rank{self.env.rank}.pt") as tmp:
                torch.save(self.model.state_dict(), tmp)
        quant = _model_summary(self.model) if self.quantized else {}
        means = {
            key: quant.get(key)
            for key in (
                "mean_weight_bits",
                "mean_activation_bits",
                "mean_bits",
                "memory_weighted_bits",
                "bitops",
            )
        }
        layers = quant.get("layers", [])
        pruning = {}
        if self.pruned_sparsity is not None:
            values = self.pruned_sparsity
            pruning = {"weight_sparsity": values}
        result = {
            "float_accuracy": self.state.float_accuracy,
            "final_accuracy": final_accuracy,
            "final_model": self.config.final_model,
            **selection,
            "batchnorm_reestimated_batches": self.bn_batches,
            **means,
            "layers": layers,
            **pruning,
            "data": self.data.describe(),
            "epochs": len(self.state.records),
            "world_size": self.env.world_size,
            "ranks_identical": consistent,
            "skipped_steps": self.state.skipped_steps,
            **provenance(self.config, self.config.seed),
        }
        if self.env.is_main:
            self._save_state_dict(MODEL_FILE)
            write_json_atomic(self.out / BITLENGTHS_FILE, {**means, "layers": layers})
            write_json_atomic(self.out / SUMMARY_FILE, result)
        return result


def _epoch_key(phase: str, epoch: int) -> int:
    """The epoch number that seeds batch order: distinct for every phase and epoch."""
    return PHASES.index(phase) * 100_000 + epoch


@preserved_process_state()
def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    reporter: Reporter | None = None,
    env: DistEnv | None = None,
    data: DataSplits | None = None,
    model: nn.Module | None = None,
) -> dict[str, Any]:
    """Run the recipe of `config` into the folder `config.out`; return the summary dict.

    Silent unless a `reporter` is given (the CLI passes `thrifty.cli.progress.ConsoleReporter`).
    With `resume`, continue from the folder's last checkpoint; the config must be the one the
    run started with.
    In a process group (`--nproc`, torchrun), every rank calls this; rank 0 writes files.
    Thread counts, global random states and warnings filters are as they were on return.

    Two seams let a caller bring its own pieces instead of the config's:

    - `data`: the splits to train and evaluate on (e.g. read once and shared by several runs,
      or a data set thrifty has no reader for); `config.data`'s batch sizes and crop padding
      still apply, its `name`, `root` and subsets are not read.
    - `model`: the module to train (e.g. one of your own, or a copy of an earlier run's
      model to continue from); it is trained in place (quantized and frozen by the quantized
      phases) and `config.model` is not read. Seed its initialisation yourself.
    """
    reporter = reporter or Reporter()
    env = env or env_from_environment()
    device = resolve_device(config.device, env)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if env.enabled and config.nonfinite_loss == "skip":
        raise ConfigError(
            "nonfinite_loss=skip works in single-process runs only (ranks would disagree on "
            "which steps to skip); use nonfinite_loss=stop with several processes"
        )
    init_process_group(env, config.distributed.backend, device)
    # Rank 0 owns the run folder (it alone writes there): the lock comes before any file.
    lock = RunLock(config.out) if env.is_main else contextlib.nullcontext()
    try:
        with lock:
            if isinstance(lock, RunLock) and lock.previous_holder is not None:
                reporter.message(
                    f"took over the lock of {str(lock.path)!r} from process "
                    f"{lock.previous_holder}, which no longer runs"
                )
            return _Run(config, resume, reporter, env, device, data, model).run()
    finally:
        reporter.close()
        destroy_process_group()
