"""Throughput of the off-chip codec: MB/s of bfloat16 input encoded and decoded.

Not a test. Wall-clock MB/s (median of repeats) is what a user waits; MB/s per CPU second of
this process is also reported because the machine may be shared with other jobs. Tensors are
ReLU-like activations (half zeros) and Gaussian weights/gradients of a typical conv layer shape;
MB counts the bfloat16 input (2 bytes per value, 1 MB = 1e6 bytes).
Run: python benchmarks/codec_throughput.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from benchmarks._common import median_seconds, write_result
from thrifty.hw.codec import CodecConfig, decode, encode, encoded_size_bits

SEED = 0
#: Activations of a mid-network conv layer (N, C, H, W): 4 Mi values, 8 MB of bfloat16.
SHAPE = (64, 64, 32, 32)


def _tensors() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(SEED)
    gaussian = torch.randn(SHAPE, generator=generator)
    return {
        "relu_activation": torch.relu(gaussian).to(torch.bfloat16),
        "gaussian": (gaussian * 0.01).to(torch.bfloat16),
    }


def cpu_seconds(fn, repeats: int) -> float:
    """Median CPU time of `fn` in this process: less sensitive than wall time to other jobs."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for name, x in _tensors().items():
        megabytes = 2 * x.numel() / 1e6
        for mode in ("exponent_delta", "value_delta", "none"):
            config = CodecConfig(group=16, mode=mode, zero_bitmap=True)
            encoded = encode(x, config)
            assert torch.equal(decode(encoded).view(torch.int16), x.view(torch.int16))
            enc = median_seconds(lambda x=x, c=config: encode(x, c), args.repeats)
            dec = median_seconds(lambda e=encoded: decode(e), args.repeats)
            size = median_seconds(lambda x=x, c=config: encoded_size_bits(x, c), args.repeats)
            enc_cpu = cpu_seconds(lambda x=x, c=config: encode(x, c), args.repeats)
            dec_cpu = cpu_seconds(lambda e=encoded: decode(e), args.repeats)
            row = {
                "tensor": name,
                "shape": list(x.shape),
                "mode": mode,
                "group": config.group,
                "input_mb": megabytes,
                "bits_per_value": encoded.bits_per_value,
                "encode_mb_per_s": megabytes / enc["median_s"],
                "decode_mb_per_s": megabytes / dec["median_s"],
                "size_only_mb_per_s": megabytes / size["median_s"],
                "encode_cpu_time_mb_per_s": megabytes / enc_cpu,
                "decode_cpu_time_mb_per_s": megabytes / dec_cpu,
                "encode_s": enc,
                "decode_s": dec,
            }
            rows.append(row)
            print(
                f"{name:16s} {mode:15s} {encoded.bits_per_value:6.2f} bits/value  "
                f"encode {row['encode_mb_per_s']:7.1f} MB/s  decode {row['decode_mb_per_s']:7.1f} "
                f"MB/s  size-only {row['size_only_mb_per_s']:7.1f} MB/s  (CPU time: encode "
                f"{row['encode_cpu_time_mb_per_s']:6.1f}, "
                f"decode {row['decode_cpu_time_mb_per_s']:6.1f})"
            )
    path = write_result(
        "codec_throughput", rows, {"shape": list(SHAPE), "repeats": args.repeats}, SEED
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
