"""The container of `EncodedTensor.to_bytes`: each malformed header field and the message naming it.

Blobs are built field by field with `struct` from docs/codec.md's "Container" table, so every
test names the exact byte that is wrong.
"""

from __future__ import annotations

import struct

import pytest
import torch

from thrifty.errors import TraceError
from thrifty.hw.codec import EncodedTensor, encode


def _blob(
    *,
    mode: int = 1,
    flags: int = 1,
    dtype: int = 1,
    group: int = 16,
    dim: int = 0,
    shape: tuple[int, ...] = (2,),
    nbits: int | None = 34,
    payload: bytes | None = None,
) -> bytes:
    head = struct.pack("<4sBBBBHBB", b"TFYC", 1, mode, flags, dtype, group, dim, len(shape))
    body = b"".join(struct.pack("<Q", size) for size in shape)
    if nbits is None:
        return head + body
    data = payload if payload is not None else bytes((nbits + 7) // 8)
    return head + body + struct.pack("<Q", nbits) + data


def test_a_well_formed_blob_parses() -> None:
    # docs/codec.md's worked example: [1.0, -8.0], group 8 -> 34 bits in 5 bytes
    encoded = encode(torch.tensor([1.0, -8.0]).bfloat16(), group=8)
    assert encoded.nbits == 34 and len(encoded.data) == 5
    assert EncodedTensor.from_bytes(encoded.to_bytes()) == encoded
    parsed = EncodedTensor.from_bytes(_blob(group=8))
    assert (parsed.shape, parsed.dim, parsed.nbits, parsed.config.group) == ((2,), 0, 34, 8)


def test_a_bare_header_is_truncated_not_foreign() -> None:
    # exactly the 12 fixed header bytes, magic right: the shape and nbits are missing
    blob = _blob(shape=(), nbits=None)
    assert len(blob) == 12
    with pytest.raises(TraceError, match=r"truncated: 12 bytes, header needs 20"):
        EncodedTensor.from_bytes(blob)
    with pytest.raises(TraceError, match="expected the magic"):
        EncodedTensor.from_bytes(blob[:11])


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"mode": 3}, r"corrupted \(mode 3, dtype 1, flags 1\); allowed: mode 0-2, dtype 1"),
        ({"dtype": 2}, r"corrupted \(mode 1, dtype 2, flags 1\)"),
        ({"flags": 2}, r"corrupted \(mode 1, dtype 1, flags 2\)"),
    ],
)
def test_each_bad_header_byte_alone_is_refused(field: dict, message: str) -> None:
    with pytest.raises(TraceError, match=message):
        EncodedTensor.from_bytes(_blob(**field))


def test_payload_length_must_match_nbits() -> None:
    # 64 bits are (64 + 7) // 8 = 8 bytes; 7 or 9 bytes are refused, naming both sizes
    for size in (7, 9):
        with pytest.raises(
            TraceError, match=rf"is {size} bytes but its header says 64 bits \(8 bytes\)"
        ):
            EncodedTensor.from_bytes(_blob(nbits=64, payload=bytes(size)))


def test_an_invalid_config_in_the_header_is_corrupted() -> None:
    with pytest.raises(TraceError, match=r"(?s)header is corrupted: .*group"):
        EncodedTensor.from_bytes(_blob(group=0))


def test_dim_must_name_one_of_the_dimensions() -> None:
    with pytest.raises(TraceError, match=r"corrupted: dim 1 of 1 dims"):
        EncodedTensor.from_bytes(_blob(dim=1, shape=(2,)))
    assert EncodedTensor.from_bytes(_blob(dim=1, shape=(1, 2))).dim == 1  # dim < ndim is fine
