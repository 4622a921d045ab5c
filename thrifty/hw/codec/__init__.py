"""Lossless off-chip codec for bfloat16 training tensors (docs/design.md §5, docs/codec.md).

Values are grouped along the channel dimension (groups of 8, 16 or 32 at each position) and
delta-encoded against a per-group base, with a per-group width header and an optional zero
bitmap. `encode` returns a real bitstream; `encoded_size_bits` is the size the simulator's
DRAM model charges.
"""

from __future__ import annotations

from thrifty.hw.codec.accounting import (
    CodecRecord,
    CodecSummary,
    TraceCodecReport,
    measure_trace,
)
from thrifty.hw.codec.config import CodecConfig, CodecMode
from thrifty.hw.codec.encoding import channel_dim, decode, encode, encoded_size_bits
from thrifty.hw.codec.format import EncodedTensor

__all__ = [
    "CodecConfig",
    "CodecMode",
    "CodecRecord",
    "CodecSummary",
    "EncodedTensor",
    "TraceCodecReport",
    "channel_dim",
    "decode",
    "encode",
    "encoded_size_bits",
    "measure_trace",
]
