"""Pinned reductions shared by the RTL equivalence tests (bfloat16 bit patterns)."""

from __future__ import annotations

ONE = 0x3F80  # 1.0
NEG = 0x8000  # -0.0, also the sign bit
E127 = 127  # exponent field of 1.0 .. 1.99


def bf16(sign: int, exponent: int, fraction: int) -> int:
    return (sign << 15) | (exponent << 7) | fraction


PINNED: dict[str, tuple[list[int], list[int]]] = {
    "zeros": ([0] * 9, [ONE] * 9),
    "signed zeros": ([NEG, 0, NEG], [ONE, NEG, NEG]),
    "flushed subnormals": ([0x0001, 0x807F, ONE], [ONE, ONE, 0x0040]),
    "out-of-bounds lanes": (
        [bf16(0, 200, 5)] + [bf16(i % 2, 40, i) for i in range(15)],
        [bf16(0, 180, 0)] * 16,
    ),
    "cancellation": (
        [bf16(0, 150, 77), bf16(0, 150, 77), bf16(0, 20, 3)],
        [bf16(0, 140, 9), bf16(1, 140, 9), ONE],
    ),
    "largest exponent spread": (
        [bf16(0, 254, 127), bf16(1, 1, 0), bf16(0, 1, 1), bf16(1, 254, 126)],
        [bf16(0, 1, 0), bf16(0, 254, 127), bf16(1, 254, 127), bf16(0, 1, 0)],
    ),
    "overflow sticks at infinity": (
        [bf16(0, 230, 0), bf16(1, 230, 0), ONE],
        [bf16(0, 230, 0), bf16(0, 230, 0), ONE],
    ),
    "ties round to even": (
        [bf16(0, 139, 0), ONE, bf16(0, 128, 64)],
        [bf16(0, 139, 0), ONE, ONE],
    ),
    "tiny accumulator under big products": (
        [bf16(0, 10, 1), bf16(0, 250, 3), bf16(1, 250, 3)],
        [bf16(0, 10, 1), bf16(0, 250, 9), ONE],
    ),
    "big accumulator over small products": (
        [bf16(0, 160, 3), bf16(0, 120, 77), bf16(1, 121, 5)],
        [bf16(0, 150, 1), ONE, ONE],
    ),
}


def every_significand_in_one_lane(lanes: int) -> tuple[list[int], list[int]]:
    """Fraction f in lane 0 of step f (other lanes zero), times a varied b."""
    a: list[int] = []
    b: list[int] = []
    for f in range(128):
        a += [bf16(f % 2, E127 - f % 3, f)] + [0] * (lanes - 1)
        b += [bf16(0, E127 + f % 5, 127 - f)] + [0] * (lanes - 1)
    return a, b


def every_significand(lanes: int) -> tuple[list[int], list[int]]:
    """All 128 fractions, `lanes` per step."""
    del lanes
    return [bf16(0, E127, f) for f in range(128)], [bf16(1, 100, 127 - f) for f in range(128)]
