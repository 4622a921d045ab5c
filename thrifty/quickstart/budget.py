"""How much work each quickstart run may do, so that it ends within its promised time.

The promises: the whole run within 10 minutes on a 2-core machine, `--fast` within
2 minutes. The budgets below size every stage to keep them; the run records its measured wall
time in the report and warns when it went over. The numbers were chosen for thrifty's small CNN
on 28×28 inputs; a larger model needs smaller sizes.

Sizing, measured on the composed pipeline (Fashion-MNIST, this project's 2-core machine,
2026-11-28): training is most of the time. On the free machine the full budget (30k examples)
ran in 70 s and `--fast` (5k) in 17 s; while another job held about 1.4 of the 2 cores, runs
took about six times as long (12k examples: 9 min). The budgets keep both promises with a
margin of more than 6× on a free machine, so they still hold on a busy one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuickstartBudget:
    """Sizes of every stage of one quickstart run."""

    name: str
    wall_seconds: float
    """The promised upper bound of the whole run (s)."""
    train_examples: int
    """Training examples drawn from the data set (examples)."""
    test_examples: int
    """Test examples used for accuracy (examples)."""
    batch_size: int
    """Training batch size (examples)."""
    reference_epochs: int
    """Epochs of float32 training: the reference, and the start of the other variants."""
    variant_epochs: int
    """Epochs of each other variant's training, started from the float32 weights."""
    finetune_epochs: int
    """Epochs of fine-tuning with frozen (integer) bitlengths, for the learned-bits variants."""
    trace_batch_size: int
    """Examples in the captured training step (examples)."""
    trace_steps: int
    """Training steps whose operands are captured, per variant (steps)."""
    sim_sample_fraction: float
    """Fraction of output tiles the simulator evaluates (unitless, sampled with error bars)."""


FAST_BUDGET = QuickstartBudget(
    name="fast",
    wall_seconds=120.0,
    train_examples=5_000,
    test_examples=1_000,
    batch_size=64,
    reference_epochs=1,
    variant_epochs=1,
    finetune_epochs=0,
    trace_batch_size=16,
    trace_steps=1,
    sim_sample_fraction=0.05,
)
"""`thrifty quickstart --fast`: ≤ 2 minutes on 2 cores; indicative numbers."""

FULL_BUDGET = QuickstartBudget(
    name="full",
    wall_seconds=600.0,
    train_examples=30_000,
    test_examples=10_000,
    batch_size=64,
    reference_epochs=2,
    variant_epochs=1,
    finetune_epochs=1,
    trace_batch_size=32,
    trace_steps=1,
    sim_sample_fraction=0.25,
)
"""`thrifty quickstart`: ≤ 10 minutes on 2 cores."""


def budget_for(fast: bool) -> QuickstartBudget:
    """The budget of a `--fast` or a normal run."""
    return FAST_BUDGET if fast else FULL_BUDGET


__all__ = ["FAST_BUDGET", "FULL_BUDGET", "QuickstartBudget", "budget_for"]
