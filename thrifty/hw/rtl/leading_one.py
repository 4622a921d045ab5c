"""Leading-one detector: position of the highest set bit, as a balanced tree (log depth)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Value


def _tree(value: Value) -> tuple[Value, Value]:
    n = len(value)  # a power of two >= 2
    if n == 2:
        return value[0] | value[1], value[1]
    half = n // 2
    any_high, index_high = _tree(value[half:])
    any_low, index_low = _tree(value[:half])
    return any_high | any_low, Cat(Mux(any_high, index_high, index_low), any_high)


def leading_one(value: Value) -> tuple[Value, Value]:
    """(any bit set, index of the highest set bit) of an unsigned value; index 0 when none."""
    width = max(2, 1 << (len(value) - 1).bit_length())
    padded = Cat(value, Const(0, width - len(value))) if width > len(value) else value
    return _tree(padded)
