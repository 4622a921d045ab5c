"""The codec's configuration: group size, delta mode and zero bitmap (docs/design.md §5).

These are the knobs of the off-chip encoder the accelerator model uses; the same object is what
the simulator's hardware config holds when it charges DRAM traffic at the encoded size.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from thrifty._config import FrozenConfig

#: Modes of the codec. "exponent_delta": exponents relative to a per-group base, sign and
#: fraction raw; "value_delta": the 15-bit magnitude (exponent and fraction as one unsigned
#: integer) relative to a per-group base, sign raw; "none": the 16 raw bits of each value.
CodecMode = Literal["exponent_delta", "value_delta", "none"]

#: Largest group size accepted: the zero bitmap of a group is `group` bits and the decoder
#: keeps one group in registers, so groups stay small in hardware (8, 16 or 32 in practice).
MAX_GROUP = 256

#: Format version of the bit layout described in docs/codec.md; bumped when the layout changes.
CODEC_SCHEMA_VERSION = 1


class CodecConfig(FrozenConfig):
    """How bfloat16 tensors are delta-encoded for off-chip transfer (lossless in every mode)."""

    schema_version: Literal[1] = Field(
        CODEC_SCHEMA_VERSION, description="Version of the bit layout (docs/codec.md)."
    )
    group: int = Field(
        16,
        ge=1,
        le=MAX_GROUP,
        description="Values per group, taken along the channel dimension at one position "
        "(values; 8, 16 or 32 in the accelerator model).",
    )
    mode: CodecMode = Field(
        "exponent_delta",
        description="'exponent_delta' (8-bit exponents relative to the group's smallest), "
        "'value_delta' (15-bit magnitudes relative to the group's smallest) or 'none' "
        "(16 raw bits per value).",
    )
    zero_bitmap: bool = Field(
        True,
        description="Prefix each group with one bit per value marking +0.0 (bit pattern "
        "0x0000); zeros then cost only that bit.",
    )
