"""Quickstart stages that stand alone: data set choice, budgets, the variants' configs."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tests.quickstart._tiny import TINY_BUDGET, separable_splits, tiny_net
from thrifty.data import DataConfig
from thrifty.quickstart.budget import FAST_BUDGET, FULL_BUDGET, budget_for
from thrifty.quickstart.dataset_choice import FASHION_MNIST_FILES, choose_dataset, describe
from thrifty.quickstart.stages import (
    BITLENGTH_STRENGTH,
    LEARNING_RATE,
    trace_batch,
    train_variant,
    variant_config,
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


def test_variant_configs_say_what_each_variant_trains(tmp_path: Path) -> None:
    data, section = separable_splits(), DataConfig(batch_size=16)
    configs = {
        name: variant_config(name, TINY_BUDGET, data, section, tmp_path / name)
        for name in ("float32", "pruned", "integer_bits", "float_bits")
    }
    for name, config in configs.items():
        assert config.out == str(tmp_path / name) and config.seed == 0
        assert (config.optimizer.name, config.optimizer.lr) == ("sgd", LEARNING_RATE)
        assert config.schedule.name == "constant" and config.data == section
    phases = {n: (c.phases.float.epochs, c.phases.learn.epochs, c.phases.finetune.epochs)
              for n, c in configs.items()}  # fmt: skip
    assert phases == {"float32": (3, 0, 0), "pruned": (1, 0, 0), "integer_bits": (0, 1, 1),
                      "float_bits": (0, 1, 1)}  # fmt: skip
    pruning = configs["pruned"].pruning
    # 96 examples in batches of 16: 6 steps; the target is reached after 3/4 of them.
    assert (pruning.target_sparsity, pruning.end_step, pruning.frequency) == (0.75, 4, 1)
    assert configs["integer_bits"].quant.weight.kind == "int"
    assert configs["float_bits"].quant.activation.kind == "float_mantissa"
    assert configs["float_bits"].regularizer.strength == BITLENGTH_STRENGTH
    assert configs["float32"].pruning is None and configs["float32"].quant.weight.kind == "int"


def test_trace_batch_is_seeded_and_cut_to_the_budget() -> None:
    data = separable_splits()
    inputs, labels = trace_batch(data, TINY_BUDGET)
    again, _ = trace_batch(data, TINY_BUDGET)
    assert inputs.shape == (4, 1, 8, 8) and labels.shape == (4,)
    torch.testing.assert_close(inputs, again, atol=0, rtol=0)


def test_reference_learns_and_pruned_variant_reaches_its_sparsity(tmp_path: Path) -> None:
    data, section = separable_splits(), DataConfig(batch_size=16)
    model = tiny_net(data)
    config = variant_config("float32", TINY_BUDGET, data, section, tmp_path / "float32")
    reference = train_variant("float32", config, data, model)
    assert reference.model is model and reference.accuracy >= 0.9 and reference.layers == []
    start = type(model)()
    start.load_state_dict(model.state_dict())
    config = variant_config("pruned", TINY_BUDGET, data, section, tmp_path / "pruned")
    pruned = train_variant("pruned", config, data, start)
    assert [(row.layer, row.weight_sparsity) for row in pruned.layers] == [
        ("conv", 0.75),
        ("fc", 0.75),
    ]
    for module in pruned.model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            assert isinstance(module.weight, nn.Parameter)  # pruning made permanent
            assert int((module.weight == 0).sum()) == round(0.75 * module.weight.numel())
    assert (tmp_path / "pruned" / "model.pt").is_file()
