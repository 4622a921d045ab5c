"""Encode a bfloat16 activation tensor, check it decodes bit for bit, and read its size."""

from __future__ import annotations

import torch

from thrifty.hw.codec import CodecConfig, EncodedTensor, decode, encode, encoded_size_bits

torch.manual_seed(0)
# ReLU activations of a conv layer, (N, C, H, W): groups of 16 run along C at each (n, h, w).
x = torch.relu(torch.randn(8, 32, 14, 14)).to(torch.bfloat16)

encoded = encode(x, group=16)  # exponent delta + zero bitmap (the defaults)
assert torch.equal(decode(encoded).view(torch.int16), x.view(torch.int16))  # lossless
print(f"{encoded.bits_per_value:.2f} bits/value, {encoded.nbytes} bytes (plain: {2 * x.numel()})")

# The size alone, as the simulator's DRAM model asks for it:
config = CodecConfig(group=32, mode="value_delta", zero_bitmap=True)
print(f"value delta, G=32: {encoded_size_bits(x, config) / x.numel():.2f} bits/value")

# A self-describing container another tool can parse (docs/codec.md, "Container"):
blob = encoded.to_bytes()
assert EncodedTensor.from_bytes(blob) == encoded
