"""The stages of `thrifty quickstart`, each a small function over thrifty's public pieces.

`run_quickstart` calls these through a `QuickstartStages` record, so a test (or a user) can
replace any of them. Every call into another part of thrifty — data sets, quantization,
trace capture, simulator, codec — sits in one short function here, named after what it does.

Training recipe (DESIGN.md §3): the float32 reference trains from scratch; every other variant
starts from the reference's weights and trains `variant_epochs` more — with gradual magnitude
pruning, with learned integer bitlengths, or with learned per-layer significand widths (the
`float_mantissa` quantizer) — and the learned-bits variants then freeze their bitlengths
(rounded up) and fine-tune for `finetune_epochs`.
"""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from thrifty.models import build_model
from thrifty.quickstart.budget import QuickstartBudget
from thrifty.quickstart.dataset_choice import DatasetChoice
from thrifty.train.pruning import MagnitudePruner, PruningConfig, make_permanent

QUICKSTART_MODEL = "small_cnn"
"""The model every variant trains (thrifty's small CNN: two convolutions, two linear layers)."""

QUICKSTART_SEED = 0
"""Seed of data sampling, initialisation and shuffling: a rerun gives the same report."""

LEARNING_RATE = 0.05
"""SGD learning rate of every variant (unitless)."""

MOMENTUM = 0.9
"""SGD momentum (unitless)."""

BITS_LEARNING_RATE = 0.5
"""SGD learning rate of the bitlengths (bits per unit gradient). Plain SGD moves a bitlength by
rate × gradient, and the regularizer's gradient per bitlength is small (λ / number of
bitlengths), so SGD needs a far larger rate than thrifty's Adam-oriented default (0.03); 0.5 is
the rate the quickstart's variants were measured with."""

PRUNING_TARGET_SPARSITY = 0.75
"""Weight sparsity the pruned variant reaches (fraction)."""

PRUNING_ACTIVATION_SPARSITY = 0.0
"""Input-activation sparsity of the pruned variant (fraction; 0: activations stay as ReLU
leaves them, which already has many zeros)."""

BITLENGTH_STRENGTH = 0.15
"""λ of the bitlength regularizer of both learned-bits variants (loss units per bit)."""

BITLENGTH_CRITERION = "bits"
"""Cost the regularizer minimises: the mean per-layer bitlength (the method's criterion).
Measured on the fast budget (Fashion-MNIST, 3k examples): λ = 0.15 brings every layer to
5 integer / 4 significand bits without losing accuracy; `memory` instead drives the largest
layer (fc1) to the floor and leaves the others near 8; λ = 0.3 drives all to the floor."""

SYNC_POLICIES = ("tile", "row", "ideal")
"""Sync policies the quickstart simulates and reports."""

HARDWARE_PRESET = "default"
"""The accelerator preset simulated (thrifty/hw/presets/default.yaml)."""

SIMULATION_JOBS = 1
"""Processes the simulator uses. One: after training in the same process, the simulator's
fork-based process pool lost a worker (BrokenProcessPool) in a composed trial run, while the
same simulation with 2 jobs works from a fresh process; 2 is right once its pool is started
with the "spawn" context."""


@dataclass(frozen=True)
class DataBundle:
    """The data one quickstart run uses."""

    train_loader: DataLoader
    test_loader: DataLoader
    trace_batch: tuple[torch.Tensor, torch.Tensor]
    train_examples: int
    test_examples: int
    image_size: int
    num_classes: int
    in_channels: int = 1
    name: str | None = None
    """The data set's name in the report when it is not the quickstart's own (your data)."""


@dataclass
class TrainedVariant:
    """A trained model and what its training measured."""

    name: str
    model: nn.Module
    accuracy: float
    train_seconds: float
    layers: list[dict[str, Any]] = field(default_factory=list)
    bits_kind: str = "none"


# --------------------------------------------------------------------------- training loop


def fit(
    model: nn.Module,
    loader: DataLoader,
    epochs: int,
    extra_loss: Callable[[], torch.Tensor] | None = None,
    on_step: Callable[[int], object] | None = None,
    parameters: Sequence[Any] | None = None,
) -> None:
    """Plain SGD over `epochs` passes; `extra_loss()` is added to the loss (a regularizer),
    `on_step(step)` runs after every optimizer step (a pruning schedule)."""
    groups = list(model.parameters()) if parameters is None else list(parameters)
    optimizer = torch.optim.SGD(groups, lr=LEARNING_RATE, momentum=MOMENTUM)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    step = 0
    for _ in range(epochs):
        for inputs, labels in loader:
            loss = loss_fn(model(inputs), labels)
            if extra_loss is not None:
                loss = loss + extra_loss()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if on_step is not None:
                on_step(step)
            step += 1


@torch.no_grad()
def accuracy(model: nn.Module, loader: DataLoader) -> float:
    """Fraction of correctly classified test examples."""
    model.eval()
    correct = total = 0
    for inputs, labels in loader:
        correct += int((model(inputs).argmax(dim=1) == labels).sum())
        total += len(labels)
    return correct / total if total else 0.0


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --------------------------------------------------------------------------- data


def load_data(choice: DatasetChoice, budget: QuickstartBudget) -> DataBundle:
    """Read the chosen data set with thrifty.data and cut it to the budget."""
    from thrifty.data import DataConfig
    from thrifty.data import load_data as read_splits

    config = DataConfig(
        name="fashion_mnist" if choice.name == "fashion-mnist" else "digits",
        root=None if choice.root is None else str(choice.root),
        train_subset=budget.train_examples,
        test_subset=budget.test_examples,
        augment="none",
    )
    splits = read_splits(config)
    train, test = splits.train, splits.test
    return bundle_from_tensors(
        (train.images, train.labels),
        (test.images, test.labels),
        budget,
        image_size=int(train.images.shape[-1]),
        num_classes=splits.num_classes,
    )


def bundle_from_tensors(
    train: Sequence[torch.Tensor],
    test: Sequence[torch.Tensor],
    budget: QuickstartBudget,
    image_size: int,
    num_classes: int,
) -> DataBundle:
    """Loaders over the first budget-many examples of a seeded shuffle of (images, labels)."""
    generator = torch.Generator().manual_seed(QUICKSTART_SEED)
    (train_x, train_y), (test_x, test_y) = train, test
    train_idx = torch.randperm(len(train_x), generator=generator)[: budget.train_examples]
    test_idx = torch.randperm(len(test_x), generator=generator)[: budget.test_examples]
    train_set = TensorDataset(train_x[train_idx], train_y[train_idx])
    test_set = TensorDataset(test_x[test_idx], test_y[test_idx])
    trace_batch = (
        train_x[train_idx[: budget.trace_batch_size]],
        train_y[train_idx[: budget.trace_batch_size]],
    )
    return DataBundle(
        train_loader=DataLoader(
            train_set, batch_size=budget.batch_size, shuffle=True, generator=generator
        ),
        test_loader=DataLoader(test_set, batch_size=256),
        trace_batch=trace_batch,
        train_examples=len(train_set),
        test_examples=len(test_set),
        image_size=image_size,
        num_classes=num_classes,
        in_channels=int(train_x.shape[1]),
    )


# --------------------------------------------------------------------------- variants


def train_reference(data: DataBundle, budget: QuickstartBudget, run_dir: Path) -> TrainedVariant:
    """float32 training from scratch: the reference (the simulator reads operands as bf16)."""
    torch.manual_seed(QUICKSTART_SEED)
    model = build_model(QUICKSTART_MODEL, data.num_classes, data.in_channels, data.image_size)
    seconds = _timed(lambda: fit(model, data.train_loader, budget.reference_epochs))
    return TrainedVariant("float32", model, accuracy(model, data.test_loader), seconds)


def train_pruned(
    reference: TrainedVariant, data: DataBundle, budget: QuickstartBudget, run_dir: Path
) -> TrainedVariant:
    """Gradual magnitude pruning from the reference's weights to PRUNING_TARGET_SPARSITY."""
    model = copy.deepcopy(reference.model)
    steps = budget.variant_epochs * len(data.train_loader)
    config = PruningConfig(
        target_sparsity=PRUNING_TARGET_SPARSITY,
        begin_step=0,
        end_step=max(1, (steps * 3) // 4),  # the last quarter trains at the target
        frequency=max(1, steps // 20),
        activation_sparsity=PRUNING_ACTIVATION_SPARSITY,
    )
    pruner = MagnitudePruner(model, config)
    seconds = _timed(
        lambda: fit(model, data.train_loader, budget.variant_epochs, on_step=pruner.step)
    )
    sparsity = pruner.layer_sparsity()
    make_permanent(model)
    layers = [{"layer": name, "weight_sparsity": value} for name, value in sparsity.items()]
    return TrainedVariant("pruned", model, accuracy(model, data.test_loader), seconds, layers)


def _train_learned_bits(
    name: str,
    kind: str,
    bits_kind: str,
    reference: TrainedVariant,
    data: DataBundle,
    budget: QuickstartBudget,
) -> TrainedVariant:
    """Quantize a copy of the reference (weights and inputs with quantizer `kind`), learn the
    bitlengths with the regularizer in the loss, then freeze them and fine-tune the weights."""
    from thrifty.quant import (
        BitlengthRegularizer,
        QuantConfig,
        QuantizerConfig,
        freeze,
        param_groups,
        quantize,
        summary,
    )

    model = copy.deepcopy(reference.model)
    quantizer = QuantizerConfig(kind=kind)
    quantize(model, QuantConfig(weight=quantizer, activation=quantizer))
    regularizer = BitlengthRegularizer(
        model, criterion=BITLENGTH_CRITERION, strength=BITLENGTH_STRENGTH
    )

    def train() -> None:
        fit(
            model,
            data.train_loader,
            budget.variant_epochs,
            extra_loss=regularizer,
            parameters=param_groups(model, lr=LEARNING_RATE, bits_lr=BITS_LEARNING_RATE),
        )
        freeze(model)
        if budget.finetune_epochs:
            fit(model, data.train_loader, budget.finetune_epochs)

    seconds = _timed(train)
    layers = layer_bits_from_summary(summary(model))
    return TrainedVariant(
        name, model, accuracy(model, data.test_loader), seconds, layers, bits_kind
    )


def layer_bits_from_summary(summary: Any) -> list[dict[str, Any]]:
    """Report rows from a thrifty.quant QuantSummary (its `records` of LayerSummary)."""
    return [
        {
            "layer": row.name,
            "weight_bits": row.weight_bits,
            "activation_bits": row.activation_bits,
            "gradient_bits": getattr(row, "gradient_bits", None),
        }
        for row in summary.records
    ]


def train_integer_bits(
    reference: TrainedVariant, data: DataBundle, budget: QuickstartBudget, run_dir: Path
) -> TrainedVariant:
    """Learned integer bitlengths per layer (weights and input activations)."""
    return _train_learned_bits("integer_bits", "int", "integer", reference, data, budget)


def train_float_bits(
    reference: TrainedVariant, data: DataBundle, budget: QuickstartBudget, run_dir: Path
) -> TrainedVariant:
    """Learned per-layer significand widths: the float_mantissa quantizer on weights and
    input activations, so each layer trains with its own number of fraction bits."""
    return _train_learned_bits("float_bits", "float_mantissa", "mantissa", reference, data, budget)


VARIANT_TRAINERS: Mapping[str, Callable[..., TrainedVariant]] = {
    "pruned": train_pruned,
    "integer_bits": train_integer_bits,
    "float_bits": train_float_bits,
}
"""How each non-reference variant trains, from the reference."""


def train_variant(
    name: str,
    reference: TrainedVariant,
    data: DataBundle,
    budget: QuickstartBudget,
    run_dir: Path,
) -> TrainedVariant:
    """Train variant `name` starting from the float32 reference."""
    return VARIANT_TRAINERS[name](reference, data, budget, run_dir)


# --------------------------------------------------------------------------- trace, sim, codec


def capture(
    trained: TrainedVariant, data: DataBundle, budget: QuickstartBudget, trace_dir: Path
) -> Path:
    """Capture the operands of forward, backward-data and backward-weight of one training
    step of every layer (thrifty.trace records every pass inside its `with` block)."""
    from thrifty import trace

    inputs, labels = data.trace_batch
    model = trained.model
    model.train()
    if trace_dir.is_dir():  # an earlier quickstart into the same folder: replace its trace
        shutil.rmtree(trace_dir)
    with trace.capture(model, trace_dir):
        for _ in range(budget.trace_steps):
            model.zero_grad()
            nn.functional.cross_entropy(model(inputs), labels).backward()
    model.zero_grad()
    return trace_dir


def simulate(trace_dir: Path, budget: QuickstartBudget, out_path: Path) -> dict[str, Any]:
    """Simulate the captured traces on the default accelerator preset (sampled to the budget);
    write simulation.json into `out_path`'s folder and return its dict."""
    from thrifty._config import parse_config
    from thrifty.hw.config import HardwareConfig, load_hardware_config
    from thrifty.hw.sim.simulation import simulate_trace, write_simulation

    config = load_hardware_config(HARDWARE_PRESET)
    data = config.model_dump()
    data["sampling"] = {**data["sampling"], "fraction": budget.sim_sample_fraction}
    config = parse_config(HardwareConfig, data, "quickstart sampling")
    simulation = simulate_trace(trace_dir, config, jobs=SIMULATION_JOBS)
    write_simulation(simulation, out_path.parent / out_path.stem)
    return simulation.to_dict()


def codec(trace_dir: Path) -> list[dict[str, Any]]:
    """Encoded size of every stored tensor of the trace, per tensor class: entries of
    {tensor_class, values, bits} (thrifty.hw.codec, default codec config)."""
    from thrifty.hw.codec.accounting import measure_trace

    return [
        {"tensor_class": name, "values": item.numel, "bits": item.encoded_bits}
        for name, item in measure_trace(trace_dir).by_class().items()
    ]


def hardware() -> dict[str, Any]:
    """What the ratios compare; the area ratio is replaced by the simulator's when it has one."""
    return {
        "baseline": "bit-parallel bfloat16 PEs",
        "area_ratio": 1.0,
        "sync_policies": list(SYNC_POLICIES),
        "preset": HARDWARE_PRESET,
    }


@dataclass(frozen=True)
class QuickstartStages:
    """The functions `run_quickstart` calls; replace any one to change that stage."""

    load_data: Callable[[DatasetChoice, QuickstartBudget], DataBundle] = load_data
    train_reference: Callable[[DataBundle, QuickstartBudget, Path], TrainedVariant] = (
        train_reference
    )
    train_variant: Callable[..., TrainedVariant] = train_variant
    capture: Callable[[TrainedVariant, DataBundle, QuickstartBudget, Path], Path] = capture
    simulate: Callable[[Path, QuickstartBudget, Path], dict[str, Any]] = simulate
    codec: Callable[[Path], list[dict[str, Any]]] = codec
    hardware: Callable[[], dict[str, Any]] = hardware


__all__ = [
    "QUICKSTART_MODEL",
    "QUICKSTART_SEED",
    "DataBundle",
    "QuickstartStages",
    "TrainedVariant",
    "accuracy",
    "bundle_from_tensors",
    "fit",
    "train_pruned",
    "train_reference",
]
