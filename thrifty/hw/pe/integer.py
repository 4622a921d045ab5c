"""Integer mode: the same PE fed integer operands (the output of learned-bitlength quantization).

With integers there are no exponents, hence no alignment and no out-of-bounds terms: the
accumulator is assumed wide enough. What remains is the cost of each step:

- term-serial: max over the lanes of the number of terms of the serial operand a (terms of |a|,
  sign-magnitude, in `config.encoding`), at least `config.min_cycles`; lanes whose a or b is zero
  are idle;
- bit-serial (Stripes-like): `bitlength` cycles per step whatever the values;
- bit-parallel: one cycle per step.

So a learned-bitlength model's inference cost on term-serial and bit-serial hardware can be
compared on the same integer tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from thrifty.errors import NumericsError
from thrifty.hw.pe.config import PEConfig
from thrifty.numerics.terms import term_count

#: Widest integer operand accepted (bits, sign included for signed data).
MAX_INTEGER_BITS = 32


@dataclass(frozen=True)
class IntegerPEResult:
    """Per-reduction results (numpy arrays of the batch shape).

    value: exact integer dot product (int64); term_serial_cycles, bit_serial_cycles,
    bit_parallel_cycles: cycles of each PE kind (int64); terms_total: terms of a in active lanes;
    idle_lane_steps: (step, lane) slots with a zero operand or no lane at all.
    """

    value: np.ndarray
    term_serial_cycles: np.ndarray
    bit_serial_cycles: np.ndarray
    bit_parallel_cycles: np.ndarray
    terms_total: np.ndarray
    idle_lane_steps: np.ndarray


def _integers(x: torch.Tensor | np.ndarray, name: str) -> np.ndarray:
    array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if not np.issubdtype(array.dtype, np.integer):
        raise NumericsError(
            f"{name} has dtype {array.dtype}; integer mode takes integer tensors (quantized codes)"
        )
    return array.astype(np.int64)


def check_bitlength(a: np.ndarray, bitlength: int) -> None:
    """a must fit `bitlength` bits: [0, 2**b) if non-negative, else [-2**(b-1), 2**(b-1))."""
    if not 1 <= bitlength <= MAX_INTEGER_BITS:
        raise NumericsError(f"bitlength {bitlength} must lie in [1, {MAX_INTEGER_BITS}]")
    if a.size == 0:
        return
    lo, hi = int(a.min()), int(a.max())
    allowed = (
        (0, (1 << bitlength) - 1)
        if lo >= 0
        else (-(1 << (bitlength - 1)), (1 << (bitlength - 1)) - 1)
    )
    if lo < allowed[0] or hi > allowed[1]:
        raise NumericsError(
            f"a spans [{lo}, {hi}], which does not fit {bitlength} bits (allowed {list(allowed)}); "
            "pass the quantized codes with their bitlength"
        )


def _step_view(x: np.ndarray, lanes: int) -> np.ndarray:
    """(..., K) -> (..., S, lanes), the last step padded with zeros (idle lanes)."""
    k = x.shape[-1]
    steps = -(-k // lanes)
    pad = steps * lanes - k
    padded = np.concatenate([x, np.zeros((*x.shape[:-1], pad), dtype=x.dtype)], axis=-1)
    return padded.reshape(*x.shape[:-1], steps, lanes)


def run_integer_pe(
    a: torch.Tensor | np.ndarray,
    b: torch.Tensor | np.ndarray,
    bitlength: int,
    config: PEConfig | None = None,
) -> IntegerPEResult:
    """Cycles of term-serial, bit-serial and bit-parallel PEs for integer reductions (..., K).

    a is the serial operand (its codes have `bitlength` bits); b is any integer tensor of a
    broadcastable shape. Only config.lanes, config.encoding and config.min_cycles matter here.
    """
    config = PEConfig() if config is None else config
    ai, bi = _integers(a, "a"), _integers(b, "b")
    check_bitlength(ai, bitlength)
    if ai.ndim == 0 or bi.ndim == 0:
        raise NumericsError("run_integer_pe needs tensors of shape (..., K); got a scalar")
    try:
        ai, bi = np.broadcast_arrays(ai, bi)
    except ValueError:
        raise NumericsError(
            f"a of shape {ai.shape} and b of shape {bi.shape} do not broadcast"
        ) from None
    active = (ai != 0) & (bi != 0)
    terms = np.where(active, term_count(np.abs(ai), config.encoding), 0)
    per_step = _step_view(terms, config.lanes).max(axis=-1)
    steps = per_step.shape[-1]
    return IntegerPEResult(
        value=(ai * bi).sum(axis=-1),
        term_serial_cycles=np.maximum(per_step, config.min_cycles).sum(axis=-1).astype(np.int64),
        bit_serial_cycles=np.full(ai.shape[:-1], steps * bitlength, dtype=np.int64),
        bit_parallel_cycles=np.full(ai.shape[:-1], steps, dtype=np.int64),
        terms_total=terms.sum(axis=-1).astype(np.int64),
        idle_lane_steps=(steps * config.lanes - active.sum(axis=-1)).astype(np.int64),
    )


def integer_step_cycles(
    a: torch.Tensor | np.ndarray,
    b: torch.Tensor | np.ndarray,
    bitlength: int,
    config: PEConfig | None = None,
    *,
    skip_zero_b: bool = True,
) -> np.ndarray:
    """Term-serial cycles per step of o = a @ b for integer a (M, K) and b (K, N): (M, N, S) uint8.

    Equal to run_integer_pe on the broadcast pairs; memory O(M*N*S) (the caller chunks M).
    Bit-serial hardware takes `bitlength` cycles for every one of these steps.
    `skip_zero_b=False` makes a lane whose b is zero still spend the terms of its a (a design
    that does not schedule around zero weights).
    """
    config = PEConfig() if config is None else config
    ai, bi = _integers(a, "a"), _integers(b, "b")
    check_bitlength(ai, bitlength)
    if ai.ndim != 2 or bi.ndim != 2 or ai.shape[1] != bi.shape[0]:
        raise NumericsError(f"need a (M, K) and b (K, N); got {ai.shape} and {bi.shape}")
    counts = _step_view(term_count(np.abs(ai), config.encoding), config.lanes)  # (M, S, L)
    gate = (bi != 0) if skip_zero_b else np.ones(bi.shape, dtype=bool)
    nonzero_b = _step_view(gate.T.astype(np.int64), config.lanes)  # (N, S, L)
    out = np.zeros((ai.shape[0], bi.shape[1], counts.shape[1]), dtype=np.int64)
    for lane in range(config.lanes):
        np.maximum(out, counts[:, None, :, lane] * nonzero_b[None, :, :, lane], out=out)
    return np.maximum(out, config.min_cycles).astype(np.uint8)
