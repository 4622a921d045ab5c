"""Quickstart stages that stand alone: data set choice, budgets, the training helpers."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from thrifty.quickstart.budget import FAST_BUDGET, FULL_BUDGET, budget_for
from thrifty.quickstart.dataset_choice import FASHION_MNIST_FILES, choose_dataset, describe
from thrifty.quickstart.stages import (
    accuracy,
    bundle_from_tensors,
    fit,
    train_pruned,
    train_reference,
)


def test_fashion_mnist_when_all_files_are_there(tmp_path) -> None:
    for index, name in enumerate(FASHION_MNIST_FILES):
        (tmp_path / (name + (".gz" if index % 2 else ""))).write_bytes(b"")
    choice = choose_dataset(tmp_path)
    assert (choice.name, choice.fell_back, choice.reason, choice.image_size) == (
        "fashion-mnist",
        False,
        None,
        28,
    )
    assert describe(choice) == f"data set: Fashion-MNIST from {tmp_path}"


def test_digits_fallback_says_why(tmp_path) -> None:
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    choice = choose_dataset(tmp_path)
    assert (choice.name, choice.fell_back, choice.image_size) == ("digits", True, 8)
    assert choice.reason == (
        f"{str(tmp_path)!r} lacks train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte"
    )
    missing = choose_dataset(tmp_path / "absent")
    assert "install Debian's dataset-fashion-mnist" in missing.reason
    assert describe(missing).startswith("data set: scikit-learn digits (Fashion-MNIST not used")


def test_budgets_keep_their_promises() -> None:
    assert budget_for(True) is FAST_BUDGET and budget_for(False) is FULL_BUDGET
    assert FAST_BUDGET.wall_seconds <= 120 and FULL_BUDGET.wall_seconds <= 600
    for field in ("train_examples", "test_examples", "reference_epochs", "trace_steps"):
        assert getattr(FAST_BUDGET, field) <= getattr(FULL_BUDGET, field), field


def _separable_data():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(128) % 2
    images = torch.randn(128, 1, 8, 8, generator=generator) * 0.1
    images[:, 0, :4] += labels.view(-1, 1, 1).float() * 2 - 1  # top half ±1 by class
    budget = dataclasses.replace(FAST_BUDGET, train_examples=96, test_examples=32, batch_size=16)
    return bundle_from_tensors((images, labels), (images, labels), budget, 8, 2), budget


def test_bundle_is_seeded_and_cut_to_the_budget() -> None:
    data, budget = _separable_data()
    again, _ = _separable_data()
    assert (data.train_examples, data.test_examples, data.in_channels) == (96, 32, 1)
    assert len(data.trace_batch[0]) == budget.trace_batch_size
    torch.testing.assert_close(data.trace_batch[0], again.trace_batch[0], atol=0, rtol=0)


def test_reference_learns_and_pruned_variant_reaches_its_sparsity(tmp_path) -> None:
    data, budget = _separable_data()
    budget = dataclasses.replace(budget, reference_epochs=3, variant_epochs=2)
    reference = train_reference(data, budget, tmp_path)
    assert reference.name == "float32" and reference.accuracy >= 0.9
    pruned = train_pruned(reference, data, budget, tmp_path)
    assert [layer["weight_sparsity"] for layer in pruned.layers] == [0.75] * 4
    for module in pruned.model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            assert isinstance(module.weight, nn.Parameter)  # pruning made permanent
            assert int((module.weight == 0).sum()) == round(0.75 * module.weight.numel())
    assert pruned.accuracy == accuracy(pruned.model, data.test_loader)
    assert reference.model is not pruned.model


def test_fit_calls_the_step_hook_and_adds_the_extra_loss() -> None:
    data, _ = _separable_data()
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    steps, extras = [], []

    def extra():
        extras.append(1)
        return model[1].weight.square().sum() * 0

    fit(model, data.train_loader, 2, extra_loss=extra, on_step=steps.append)
    assert steps == list(range(12)) and len(extras) == 12
