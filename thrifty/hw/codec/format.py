"""The encoded tensor: a real bitstream plus everything needed to decode it (docs/codec.md).

`EncodedTensor.data` is the payload the accelerator would move off chip; `to_bytes` wraps it in
a small self-describing container (magic, version, mode, group, shape) so another tool can read
it back without thrifty.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from math import prod

from thrifty.errors import TraceError
from thrifty.hw.codec._kernels import (
    MODE_EXPONENT_DELTA,
    MODE_NONE,
    MODE_VALUE_DELTA,
    VALUE_BITS,
)
from thrifty.hw.codec.config import CODEC_SCHEMA_VERSION, CodecConfig

#: First four bytes of a serialised encoded tensor.
MAGIC = b"TFYC"
#: Container header before the shape: magic, version, mode, flags, dtype, group, dim, ndim
#: (little-endian; see docs/codec.md, "Container").
_HEADER = struct.Struct("<4sBBBBHBB")
_SHAPE_ITEM = struct.Struct("<Q")
_NBITS = struct.Struct("<Q")
#: dtype code of bfloat16 in the container; the only dtype the codec accepts.
DTYPE_BFLOAT16 = 1
#: flags bit 0: groups start with a zero bitmap.
FLAG_ZERO_BITMAP = 1

MODE_CODES = {
    "none": MODE_NONE,
    "exponent_delta": MODE_EXPONENT_DELTA,
    "value_delta": MODE_VALUE_DELTA,
}
MODE_NAMES = {code: name for name, code in MODE_CODES.items()}


@dataclass(frozen=True)
class EncodedTensor:
    """A bfloat16 tensor encoded by `thrifty.hw.codec.encode`.

    `data` holds `nbits` bits of payload, most significant bit first, padded with zero bits to
    whole bytes. `dim` is the dimension the groups run along (the channel dimension); the
    payload visits positions in row-major order of the other dimensions.
    """

    shape: tuple[int, ...]
    dim: int
    config: CodecConfig
    nbits: int
    data: bytes

    @property
    def numel(self) -> int:
        """Number of values in the tensor."""
        return prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Payload size in bytes (`len(data)`), without the container header of `to_bytes`."""
        return len(self.data)

    @property
    def bits_per_value(self) -> float:
        """Payload bits per value (16.0 is plain bfloat16); 0.0 for an empty tensor."""
        return self.nbits / self.numel if self.numel else 0.0

    @property
    def raw_bits(self) -> int:
        """Bits of the same tensor stored as plain bfloat16 (16 per value)."""
        return VALUE_BITS * self.numel

    def to_bytes(self) -> bytes:
        """Serialise as container header + payload (docs/codec.md, "Container")."""
        flags = FLAG_ZERO_BITMAP if self.config.zero_bitmap else 0
        header = _HEADER.pack(
            MAGIC,
            CODEC_SCHEMA_VERSION,
            MODE_CODES[self.config.mode],
            flags,
            DTYPE_BFLOAT16,
            self.config.group,
            self.dim,
            len(self.shape),
        )
        shape = b"".join(_SHAPE_ITEM.pack(size) for size in self.shape)
        return header + shape + _NBITS.pack(self.nbits) + self.data

    @classmethod
    def from_bytes(cls, blob: bytes) -> EncodedTensor:
        """Parse what `to_bytes` wrote; a foreign, truncated or padded blob is a TraceError."""
        blob = bytes(blob)
        if len(blob) < _HEADER.size or blob[:4] != MAGIC:
            raise TraceError(
                f"not an encoded thrifty tensor: expected the magic {MAGIC!r} at the start of "
                f"{len(blob)} bytes; pass the output of EncodedTensor.to_bytes()"
            )
        _, version, mode, flags, dtype, group, dim, ndim = _HEADER.unpack_from(blob)
        if version != CODEC_SCHEMA_VERSION:
            raise TraceError(
                f"encoded tensor has layout version {version}; this thrifty reads version "
                f"{CODEC_SCHEMA_VERSION}: re-encode it with this version"
            )
        if mode not in MODE_NAMES or dtype != DTYPE_BFLOAT16 or flags & ~FLAG_ZERO_BITMAP:
            raise TraceError(
                f"encoded tensor header is corrupted (mode {mode}, dtype {dtype}, flags "
                f"{flags}); allowed: mode 0-2, dtype {DTYPE_BFLOAT16}, flags 0-1"
            )
        offset = _HEADER.size
        end = offset + ndim * _SHAPE_ITEM.size + _NBITS.size
        if len(blob) < end:
            raise TraceError(f"encoded tensor truncated: {len(blob)} bytes, header needs {end}")
        shape = tuple(
            _SHAPE_ITEM.unpack_from(blob, offset + i * _SHAPE_ITEM.size)[0] for i in range(ndim)
        )
        (nbits,) = _NBITS.unpack_from(blob, end - _NBITS.size)
        data = blob[end:]
        if len(data) != (nbits + 7) // 8:
            raise TraceError(
                f"encoded tensor payload is {len(data)} bytes but its header says {nbits} bits "
                f"({(nbits + 7) // 8} bytes): the blob is truncated or has trailing bytes"
            )
        try:
            config = CodecConfig(group=group, mode=MODE_NAMES[mode], zero_bitmap=bool(flags))
        except ValueError as error:
            raise TraceError(f"encoded tensor header is corrupted: {error}") from None
        if ndim and dim >= ndim:
            raise TraceError(f"encoded tensor header is corrupted: dim {dim} of {ndim} dims")
        return cls(shape=shape, dim=dim, config=config, nbits=nbits, data=data)
