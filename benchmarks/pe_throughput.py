"""Simulated MACs per second of the fast PE model (numba) and of the scalar oracle, side by side.

Data are bfloat16 values shaped like training tensors: normal weights, post-ReLU activations
(about half zeros) and gradients spanning many exponents, in the three pairings a layer's
forward, backward-data and backward-weight products use. The fast model runs whole matrix
products in row chunks (bounded memory); the oracle runs a small subset of the same outputs.

Both are timed as the median of the same number of repeats. The oracle is pure Python on one
thread, so the fast model is timed twice: with all its numba threads, and with one thread (the
ratio at equal conditions). The thread counts and the load average are recorded.

Run: python benchmarks/pe_throughput.py [--quick]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numba
import numpy as np
import torch

from benchmarks._common import median_seconds, write_result
from thrifty.hw import PEConfig, iter_pe_matmul, pe_matmul, run_pe

SEED = 0
M, K, N = 256, 576, 64  # e.g. a 3x3x64 convolution, 256 output positions, 64 filters
ORACLE_ROWS, ORACLE_COLS = 2, 4  # the oracle's subset of outputs
ROWS_PER_CHUNK = 64


def workloads(rng: np.random.Generator) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(serial a (M, K), parallel b (K, N)) bfloat16 pairs shaped like training data."""

    def weights(shape: tuple[int, int]) -> torch.Tensor:
        return torch.from_numpy(rng.normal(0.0, 0.05, size=shape).astype(np.float32))

    def activations(shape: tuple[int, int]) -> torch.Tensor:
        return torch.from_numpy(np.maximum(rng.normal(size=shape), 0).astype(np.float32))

    def gradients(shape: tuple[int, int]) -> torch.Tensor:
        scale = np.exp2(rng.normal(-20.0, 6.0, size=shape))  # exponents spread over ~50 binades
        return torch.from_numpy((rng.normal(size=shape) * scale).astype(np.float32))

    pairs = {
        "forward_act_x_weight": (activations((M, K)), weights((K, N))),
        "backward_data_grad_x_weight": (gradients((M, K)), weights((K, N))),
        "backward_weight_grad_x_act": (gradients((M, K)), activations((K, N))),
    }
    return {name: (a.bfloat16(), b.bfloat16()) for name, (a, b) in pairs.items()}


def main(quick: bool = False) -> None:
    config = PEConfig()
    rng = np.random.default_rng(SEED)
    results = {}
    repeats = 1 if quick else 3
    load_before = os.getloadavg()[0]
    for name, (a, b) in workloads(rng).items():
        pe_matmul(a[:1], b, config)  # JIT / cache load outside the timing

        def fast(a: torch.Tensor = a, b: torch.Tensor = b) -> None:
            for _ in iter_pe_matmul(a, b, config, rows_per_chunk=ROWS_PER_CHUNK):
                pass

        fast_timing = median_seconds(fast, repeats=repeats, warmup=0)
        fast_macs = M * K * N / fast_timing["median_s"]
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            one_thread = median_seconds(fast, repeats=repeats, warmup=0)
        finally:
            numba.set_num_threads(threads)
        fast_macs_1t = M * K * N / one_thread["median_s"]
        cpu_start = time.process_time()  # CPU seconds of all threads: robust to contention
        fast()
        cpu_ns_per_mac = (time.process_time() - cpu_start) / (M * K * N) * 1e9

        sub_a = a[:ORACLE_ROWS, None, :]
        sub_b = b[:, :ORACLE_COLS].T[None, :, :]
        oracle_runs = []

        def oracle_run(
            sub_a: torch.Tensor = sub_a, sub_b: torch.Tensor = sub_b, runs: list = oracle_runs
        ) -> None:
            runs.append(run_pe(sub_a, sub_b, config, reference=True))

        oracle_timing = median_seconds(oracle_run, repeats=repeats, warmup=0)
        oracle = oracle_runs[-1]
        oracle_s = oracle_timing["median_s"]
        oracle_macs = ORACLE_ROWS * ORACLE_COLS * K / oracle_s
        check = pe_matmul(a[:ORACLE_ROWS], b[:, :ORACLE_COLS], config)
        agree = bool(np.array_equal(check.value, oracle.value)) and bool(
            np.array_equal(check.cycles, oracle.cycles)
        )
        full = pe_matmul(a[:ROWS_PER_CHUNK], b, config)
        results[name] = {
            "shape_mkn": [M, K, N],
            "fast_seconds": fast_timing,
            "fast_macs_per_s": fast_macs,
            "fast_threads": threads,
            "fast_1_thread_seconds": one_thread,
            "fast_1_thread_macs_per_s": fast_macs_1t,
            "fast_cpu_ns_per_mac": cpu_ns_per_mac,
            "oracle_macs": ORACLE_ROWS * ORACLE_COLS * K,
            "oracle_seconds": oracle_timing,
            "oracle_threads": 1,
            "oracle_macs_per_s": oracle_macs,
            "speedup_fast_over_oracle": fast_macs / oracle_macs,
            "speedup_fast_over_oracle_1_thread_each": fast_macs_1t / oracle_macs,
            "fast_equals_oracle_on_subset": agree,
            "mean_cycles_per_step": float(full.step_cycles.mean()),
            "out_of_bounds_fraction": float(full.terms_out_of_bounds.sum())
            / max(1, int(full.terms_total.sum())),
        }
        print(
            f"{name:28s} fast {fast_macs / 1e6:6.1f} M MAC/s on {threads} threads, "
            f"{fast_macs_1t / 1e6:6.1f} on 1 ({cpu_ns_per_mac:.1f} CPU ns/MAC)  oracle "
            f"{oracle_macs / 1e3:6.1f} k MAC/s on 1   ratio at 1 thread each "
            f"{fast_macs_1t / oracle_macs:7.0f}   agree={agree}"
        )
    results["numba_threads"] = numba.get_num_threads()
    results["torch_threads"] = torch.get_num_threads()
    results["repeats"] = repeats
    results["load_average_1min_before"] = load_before
    results["load_average_1min"] = os.getloadavg()[0]
    path = write_result("pe_throughput", results, config=config.model_dump(), seed=SEED)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
