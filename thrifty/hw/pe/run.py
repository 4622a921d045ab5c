"""`run_pe`: the term-serial PE and its bit-parallel baseline on a batch of reductions.

Inputs are float tensors of shape (..., K); each row along the last axis is one reduction
sum_k a[k] * b[k], `a` being the serial operand. The fast numba model runs by default;
`reference=True` runs the scalar oracle (slow, exact Python) instead, with identical results.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from thrifty._process_state import preserved_thread_counts
from thrifty.errors import NumericsError
from thrifty.hw.pe.config import PEConfig
from thrifty.hw.pe.fast import decode_operand, pairs_kernel
from thrifty.hw.pe.operands import kernel_arguments, operand_bits
from thrifty.hw.pe.oracle import run_oracle
from thrifty.numerics.formats import bfloat16_bits_to_float32
from thrifty.numerics.policy import PolicyCounts


@dataclass(frozen=True)
class PEStats:
    """Term counts per reduction (int64 arrays of the batch shape).

    terms_total: non-zero terms of `a` in active lanes (both operands non-zero);
    terms_out_of_bounds: those skipped because they fall below the window;
    terms_processed: those fed to the lanes (terms_total = processed + out_of_bounds);
    idle_lane_steps: (step, lane) slots that feed no term: a zero operand, a missing lane in the
    last step, or every term out of bounds. Idle lane-cycles are cycles * lanes - terms_processed.
    """

    terms_total: np.ndarray
    terms_out_of_bounds: np.ndarray
    terms_processed: np.ndarray
    idle_lane_steps: np.ndarray


@dataclass(frozen=True)
class PEResult:
    """Per-reduction results of the term-serial PE and of the bit-parallel baseline.

    value / baseline_value: float32 arrays of the batch shape; cycles / baseline_cycles: int64
    (the baseline spends one cycle per step); policy_counts: operands flushed or zeroed.
    """

    value: np.ndarray
    cycles: np.ndarray
    baseline_value: np.ndarray
    baseline_cycles: np.ndarray
    stats: PEStats
    policy_counts: PolicyCounts


def _pair_bits(
    a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, config: PEConfig
) -> tuple[np.ndarray, np.ndarray, PolicyCounts]:
    a_bits, a_counts = operand_bits(a, config, "a")
    b_bits, b_counts = operand_bits(b, config, "b")
    if a_bits.ndim == 0 or b_bits.ndim == 0:
        raise NumericsError("run_pe needs tensors of shape (..., K); got a scalar")
    try:
        a_bits, b_bits = np.broadcast_arrays(a_bits, b_bits)
    except ValueError:
        raise NumericsError(
            f"a of shape {a_bits.shape} and b of shape {b_bits.shape} do not broadcast; pass "
            "tensors of the same shape (..., K)"
        ) from None
    return a_bits, b_bits, a_counts + b_counts


def run_pe(
    a: torch.Tensor | np.ndarray,
    b: torch.Tensor | np.ndarray,
    config: PEConfig | None = None,
    reference: bool = False,
) -> PEResult:
    """Reduce a[..., k] * b[..., k] over the last axis on the term-serial PE and its baseline.

    a, b: float32 or bfloat16 tensors (or float32 numpy arrays) of broadcastable shapes (..., K);
    float32 is rounded to bfloat16 as `config.rounding` says. `reference=True` uses the scalar
    oracle. Memory is O(batch * ceil(K / lanes)) bytes for the per-step cycles.
    """
    config = PEConfig() if config is None else config
    a_bits, b_bits, counts = _pair_bits(a, b, config)
    batch, k = a_bits.shape[:-1], a_bits.shape[-1]
    n_rows = int(np.prod(batch, dtype=np.int64))
    a2 = np.ascontiguousarray(a_bits.reshape(n_rows, k))
    b2 = np.ascontiguousarray(b_bits.reshape(n_rows, k))
    rows = a2.shape[0]
    values = np.zeros(rows, dtype=np.float32)
    base = np.zeros(rows, dtype=np.float32)
    stats = np.zeros((rows, 5), dtype=np.int64)
    if reference:
        for r in range(rows):
            res = run_oracle([int(x) for x in a2[r]], [int(x) for x in b2[r]], config)
            values[r], base[r] = res.value, res.baseline_value
            stats[r] = (
                res.cycles,
                res.terms_total,
                res.terms_out_of_bounds,
                res.terms_processed,
                res.idle_lane_steps,
            )
    elif rows:
        steps = -(-k // config.lanes)
        step_cycles = np.zeros((rows, steps), dtype=np.uint8)
        params, count_from, value_from = kernel_arguments(config)
        with preserved_thread_counts():  # numba's OpenMP pool resets torch's threads
            a_dec = decode_operand(np.ascontiguousarray(a2), count_from)
            b_dec = decode_operand(np.ascontiguousarray(b2), count_from)
            pairs_kernel(a_dec, b_dec, params, count_from, value_from, values, base, stats,
                         step_cycles)  # fmt: skip
    steps_per_row = -(-k // config.lanes)
    return PEResult(
        value=values.reshape(batch),
        cycles=stats[:, 0].reshape(batch),
        baseline_value=base.reshape(batch),
        baseline_cycles=np.full(batch, steps_per_row, dtype=np.int64),
        stats=PEStats(
            terms_total=stats[:, 1].reshape(batch),
            terms_out_of_bounds=stats[:, 2].reshape(batch),
            terms_processed=stats[:, 3].reshape(batch),
            idle_lane_steps=stats[:, 4].reshape(batch),
        ),
        policy_counts=counts,
    )


@dataclass(frozen=True)
class ErrorReport:
    """How far the PE and its baseline land from a float64 dot product of the same bf16 operands.

    Absolute errors are |x - ref|; relative errors divide by |ref| over reductions with ref != 0.
    `term_vs_baseline_*` compare the two PEs directly.
    """

    reductions: int
    term_max_abs_error: float
    term_mean_abs_error: float
    term_max_rel_error: float
    baseline_max_abs_error: float
    baseline_mean_abs_error: float
    baseline_max_rel_error: float
    term_vs_baseline_max_abs: float
    term_differs_from_baseline: int

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _errors(x: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    if x.size == 0:
        return 0.0, 0.0, 0.0
    err = np.abs(x.astype(np.float64) - ref)
    nz = ref != 0
    rel = float((err[nz] / np.abs(ref[nz])).max()) if nz.any() else 0.0
    return float(err.max()), float(err.mean()), rel


def error_report(
    a: torch.Tensor | np.ndarray,
    b: torch.Tensor | np.ndarray,
    config: PEConfig | None = None,
    result: PEResult | None = None,
) -> ErrorReport:
    """Errors of `run_pe(a, b, config)` (or of a given `result`) against a float64 dot product.

    The reference uses the PE's own operands (bfloat16 after the policies), so it measures the
    accumulation only, not the rounding of the inputs.
    """
    config = PEConfig() if config is None else config
    result = run_pe(a, b, config) if result is None else result
    a_bits, b_bits, _ = _pair_bits(a, b, config)
    a64 = bfloat16_bits_to_float32(a_bits).astype(np.float64)
    b64 = bfloat16_bits_to_float32(b_bits).astype(np.float64)
    ref = (a64 * b64).sum(axis=-1)
    term = _errors(result.value, ref)
    base = _errors(result.baseline_value, ref)
    diff = np.abs(result.value.astype(np.float64) - result.baseline_value.astype(np.float64))
    return ErrorReport(
        reductions=int(ref.size),
        term_max_abs_error=term[0],
        term_mean_abs_error=term[1],
        term_max_rel_error=term[2],
        baseline_max_abs_error=base[0],
        baseline_mean_abs_error=base[1],
        baseline_max_rel_error=base[2],
        term_vs_baseline_max_abs=float(diff.max()) if diff.size else 0.0,
        term_differs_from_baseline=int(np.count_nonzero(diff)),
    )
