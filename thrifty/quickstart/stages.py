"""The stages of `thrifty quickstart`, each a short call into thrifty's public functions.

`run_quickstart` calls these through a `QuickstartStages` record, so a test (or a user) can
replace any of them — e.g. `load_data` and `build_model` to run the whole story on their own
data and model. Training is `thrifty.train.train` with a `TrainConfig` that `variant_config`
builds from the budget; simulation is `thrifty.hw.simulate_trace` with a `HardwareConfig`.

Training recipe (see docs/design.md): the float32 reference trains from scratch; every other
variant starts from a copy of the reference's trained model and trains `variant_epochs` more —
with gradual magnitude pruning (float phase), or with learned integer bitlengths or learned
per-layer significand widths (the `float_mantissa` quantizer; learn phase) — and the
learned-bits variants then freeze their bitlengths (rounded up) and fine-tune for
`finetune_epochs`.
"""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from thrifty._config import apply_overrides, parse_config, with_overrides
from thrifty.data import DataConfig, DataSplits, load_data, steps_per_epoch
from thrifty.hw.codec.accounting import CodecSummary, measure_trace
from thrifty.hw.config import HardwareConfig, load_hardware_config
from thrifty.hw.sim.inference import InferenceSimulation, simulate_inference, write_inference
from thrifty.hw.sim.simulation import Simulation, simulate_trace, write_simulation
from thrifty.hw.sim.value_error import NumericCost
from thrifty.hw.sim.value_error import numeric_cost as trace_numeric_cost
from thrifty.models import build_model
from thrifty.quant import summary
from thrifty.quickstart.assemble import bits_rows, sparsity_rows
from thrifty.quickstart.budget import QuickstartBudget
from thrifty.quickstart.dataset_choice import DatasetChoice
from thrifty.report.schema import LayerPrecision
from thrifty.trace import capture as capture_trace
from thrifty.trace import open as open_trace
from thrifty.train import TrainConfig, train
from thrifty.train.run_model import draw_test_images

QUICKSTART_MODEL = "small_cnn"
"""The model every variant trains (thrifty's small CNN: two convolutions, two linear layers)."""

QUICKSTART_SEED = 0
"""Seed of data sampling, initialisation and batch order: a rerun gives the same report."""

LEARNING_RATE = 0.05
"""SGD learning rate of every variant (unitless), constant over the run."""

MOMENTUM = 0.9
"""SGD momentum (unitless)."""

BITS_LEARNING_RATE = 0.5
"""SGD learning rate of the bitlengths (bits per unit gradient). Plain SGD moves a bitlength by
rate × gradient, and the regularizer's gradient per bitlength is small (λ / number of
bitlengths), so SGD needs a far larger rate than thrifty's Adam-oriented default (0.03); 0.5 is
the rate the quickstart's variants were measured with."""

PRUNING_TARGET_SPARSITY = 0.75
"""Weight sparsity the pruned variant reaches (fraction)."""

BITLENGTH_STRENGTH = 0.15
"""λ of the bitlength regularizer of both learned-bits variants (loss units per bit)."""

BITLENGTH_CRITERION = "bits"
"""Cost the regularizer minimises: the mean per-layer bitlength (the method's criterion).
Measured on the fast budget (Fashion-MNIST, 3k examples): λ = 0.15 brings every layer to
5 integer / 4 significand bits without losing accuracy; `memory` instead drives the largest
layer (fc1) to the floor and leaves the others near 8; λ = 0.3 drives all to the floor."""

HARDWARE_PRESET = "default"
"""The accelerator preset simulated (thrifty/hw/presets/default.yaml)."""

SIMULATION_JOBS = 1
"""Processes the simulator uses (one: the quickstart's traces are small)."""

WINDOWS = ("accumulator", "product")
"""The term-serial PE's out-of-bounds windows the float32 reference is simulated with."""

INFERENCE_VARIANT = "integer_bits"
"""The variant whose frozen model the integer inference stage simulates."""

INFERENCE_IMAGES = 4
"""Test images of the integer inference stage (images): a few keep the stage to seconds."""

NUMERIC_COST_ROWS = 64
"""Output rows per training operation whose reductions the numeric cost compares (rows)."""

VARIANT_QUANTIZER = {"integer_bits": "int", "float_bits": "float_mantissa"}
"""The quantizer kind of each learned-bits variant, on weights and input activations."""

BITS_KIND = {"integer_bits": "integer", "float_bits": "mantissa"}
"""What the learned bits of each learned-bits variant count (the report's `bits_kind`)."""


@dataclass
class TrainedVariant:
    """A trained model and what its training measured."""

    name: str
    model: nn.Module
    accuracy: float
    train_seconds: float
    config: TrainConfig
    layers: list[LayerPrecision]
    bits_kind: str = "none"


# --------------------------------------------------------------------------- data and model


def data_config(choice: DatasetChoice, budget: QuickstartBudget) -> DataConfig:
    """The `data:` section of every variant: the chosen data set cut to the budget."""
    return DataConfig(
        name="fashion_mnist" if choice.name == "fashion-mnist" else "digits",
        root=None if choice.root is None else str(choice.root),
        train_subset=budget.train_examples,
        test_subset=budget.test_examples,
        augment="none",
        batch_size=budget.batch_size,
    )


def read_data(choice: DatasetChoice, budget: QuickstartBudget) -> DataSplits:
    """Read the chosen data set with thrifty.data, cut to the budget."""
    return load_data(data_config(choice, budget))


def quickstart_model(data: DataSplits) -> nn.Module:
    """The float32 model the reference trains: thrifty's small CNN, seeded."""
    torch.manual_seed(QUICKSTART_SEED)
    return build_model(QUICKSTART_MODEL, data.num_classes, data.in_channels, data.image_size)


def trace_batch(data: DataSplits, budget: QuickstartBudget) -> tuple[torch.Tensor, torch.Tensor]:
    """The examples of the captured training step: the first of a seeded shuffle."""
    generator = torch.Generator().manual_seed(QUICKSTART_SEED)
    order = torch.randperm(len(data.train), generator=generator)[: budget.trace_batch_size]
    return data.train.images[order], data.train.labels[order]


# --------------------------------------------------------------------------- training


def variant_config(
    name: str,
    budget: QuickstartBudget,
    data: DataSplits,
    data_section: DataConfig,
    out: Path,
    overrides: Sequence[str] = (),
) -> TrainConfig:
    """The TrainConfig of variant `name`: SGD at a constant rate, and the phases it trains;
    then the `key.sub=value` overrides (e.g. `optimizer.lr=0.01`), applied to every variant."""
    section: dict[str, Any] = {
        "seed": QUICKSTART_SEED,
        "device": "cpu",
        "out": str(out),
        "model": {"name": QUICKSTART_MODEL},
        "data": data_section.model_dump(),
        "optimizer": {
            "name": "sgd",
            "lr": LEARNING_RATE,
            "momentum": MOMENTUM,
            "bits_lr": BITS_LEARNING_RATE,
        },
        "schedule": {"name": "constant"},
        "regularizer": {"criterion": BITLENGTH_CRITERION, "strength": BITLENGTH_STRENGTH},
    }
    none = {"epochs": 0}
    if name == "float32":
        section["phases"] = {"float": {"epochs": budget.reference_epochs}, "learn": none,
                             "finetune": none}  # fmt: skip
    elif name == "pruned":
        steps = budget.variant_epochs * steps_per_epoch(len(data.train), budget.batch_size, 1)
        section["phases"] = {"float": {"epochs": budget.variant_epochs}, "learn": none,
                             "finetune": none}  # fmt: skip
        section["pruning"] = {
            "target_sparsity": PRUNING_TARGET_SPARSITY,
            "begin_step": 0,
            "end_step": max(1, (steps * 3) // 4),  # the last quarter trains at the target
            "frequency": max(1, steps // 20),
        }
    else:
        quantizer = {"kind": VARIANT_QUANTIZER[name]}
        section["quant"] = {"weight": quantizer, "activation": quantizer}
        section["phases"] = {
            "float": none,
            "learn": {"epochs": budget.variant_epochs},
            "finetune": {"epochs": budget.finetune_epochs},
        }
    section = apply_overrides(section, overrides)
    return parse_config(TrainConfig, section, f"quickstart config of variant {name!r}")


def train_variant(
    name: str, config: TrainConfig, data: DataSplits, model: nn.Module
) -> TrainedVariant:
    """Train `model` in place with thrifty.train.train (into a fresh `config.out`)."""
    out = Path(config.out)
    if out.is_dir():  # an earlier quickstart into the same folder: replace its run
        shutil.rmtree(out)
    start = time.perf_counter()
    result = train(config, data=data, model=model)
    seconds = time.perf_counter() - start
    if name in BITS_KIND:
        layers = bits_rows(summary(model))
    else:
        layers = sparsity_rows(result.get("weight_sparsity") or {})
    kind = BITS_KIND.get(name, "none")
    return TrainedVariant(name, model, result["final_accuracy"], seconds, config, layers, kind)


def copy_model(model: nn.Module) -> nn.Module:
    """A variant's starting point: an independent copy of the reference's trained model."""
    return copy.deepcopy(model)


# --------------------------------------------------------------------------- trace, sim, codec


def capture(
    model: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    budget: QuickstartBudget,
    trace_dir: Path,
) -> Path:
    """Capture the operands of forward, backward-data and backward-weight of one training
    step of every layer (thrifty.trace records every pass inside its `with` block)."""
    inputs, labels = batch
    model.train()
    if trace_dir.is_dir():  # an earlier quickstart into the same folder: replace its trace
        shutil.rmtree(trace_dir)
    with capture_trace(model, trace_dir):
        for _ in range(budget.trace_steps):
            model.zero_grad()
            nn.functional.cross_entropy(model(inputs), labels).backward()
    model.zero_grad()
    return trace_dir


def hardware_config(budget: QuickstartBudget) -> HardwareConfig:
    """The default accelerator preset, sampling the budget's fraction of output tiles."""
    fraction = f"sampling.fraction={budget.sim_sample_fraction!r}"
    return with_overrides(load_hardware_config(HARDWARE_PRESET), [fraction], "quickstart budget")


def simulate(trace_dir: Path, config: HardwareConfig, out_dir: Path) -> Simulation:
    """Simulate the captured traces; write `simulation.json` into `out_dir`."""
    simulation = simulate_trace(trace_dir, config, jobs=SIMULATION_JOBS)
    write_simulation(simulation, out_dir)
    return simulation


def window_config(config: HardwareConfig, window: str) -> HardwareConfig:
    """`config` with the term-serial PE's out-of-bounds window set to `window`."""
    data = config.model_dump()
    data["pe"] = {**data["pe"], "window": window}
    return parse_config(HardwareConfig, data, "quickstart hardware config")


def numeric_cost(trace_dir: Path, config: HardwareConfig) -> NumericCost:
    """Numeric cost against float64 of the PE (and both baselines) on the trace's reductions:
    `NUMERIC_COST_ROWS` sampled output rows per operation, seeded by the config's seed."""
    return trace_numeric_cost(
        open_trace(trace_dir), config, rows=NUMERIC_COST_ROWS, seed=config.sampling.seed
    )


def codec(trace_dir: Path) -> Mapping[str, CodecSummary]:
    """Encoded size of the trace's stored tensors per tensor class (default codec config)."""
    return measure_trace(trace_dir).by_class()


def inference(model: nn.Module, data: DataSplits, config: HardwareConfig, out_dir: Path):
    """Integer inference of a frozen model on `INFERENCE_IMAGES` test images (seeded);
    writes `inference.json` into `out_dir`."""
    images = draw_test_images(data, min(INFERENCE_IMAGES, len(data.test)), QUICKSTART_SEED)
    simulation = simulate_inference(model, images, config, seed=QUICKSTART_SEED)
    write_inference(simulation, out_dir)
    return simulation


@dataclass(frozen=True)
class QuickstartStages:
    """The functions `run_quickstart` calls; replace any one to change that stage."""

    load_data: Callable[[DatasetChoice, QuickstartBudget], DataSplits] = read_data
    build_model: Callable[[DataSplits], nn.Module] = quickstart_model
    train: Callable[[str, TrainConfig, DataSplits, nn.Module], TrainedVariant] = train_variant
    capture: Callable[[nn.Module, tuple, QuickstartBudget, Path], Path] = capture
    simulate: Callable[[Path, HardwareConfig, Path], Simulation] = simulate
    codec: Callable[[Path], Mapping[str, CodecSummary]] = codec
    numeric_cost: Callable[[Path, HardwareConfig], NumericCost] = numeric_cost
    inference: Callable[[nn.Module, DataSplits, HardwareConfig, Path], InferenceSimulation] = (
        inference
    )


__all__ = [
    "HARDWARE_PRESET",
    "INFERENCE_IMAGES",
    "INFERENCE_VARIANT",
    "QUICKSTART_MODEL",
    "QUICKSTART_SEED",
    "WINDOWS",
    "QuickstartStages",
    "TrainedVariant",
    "hardware_config",
    "quickstart_model",
    "read_data",
    "trace_batch",
    "train_variant",
    "variant_config",
    "window_config",
]
