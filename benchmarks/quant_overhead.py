"""Cost of a quantized training step relative to the float step (target ≤ 1.2×).

For the small CNN (batch 128, 1×28×28) and ResNet-20 (batch 128, 3×32×32) on the CPU, one
training step (zero_grad, forward, cross-entropy + bitlength regularizer, backward) is timed for
the float model and for its quantized copy (weights and inputs quantized, learnable bitlengths
at 8 bits: both levels computed). Two measurements, both side by side and alternating (float
first on even repeats, quantized first on odd ones, so that neither side always runs on a
warmer cache or in a quieter moment), each the ratio of the medians over repeats:

- `ratio` (the headline): each side in its **own worker process**, as a training run is; the
  parent asks the two workers for one repeat in turn, so they still run side by side in time.
  The workers run with glibc's heap trimming off (`MALLOC_TRIM_THRESHOLD_` and
  `MALLOC_MMAP_THRESHOLD_` set in their environment, `HEAP_ENV`): with the defaults, glibc
  gives freed heap back to the system after some steps and takes it again page by page in the
  next, tens of thousands of page faults per step that land on one side or the other depending
  on the process's allocation history (measured here: 37,000 per step on the float side and
  none on the quantized one in one run; the reverse in others), which is noise for this
  comparison, not a cost of either step.
  Before each timed repeat a worker runs `--settle` untimed steps (default 1): a worker has
  just sat idle while the other side ran, and its first step after that pays for cold caches
  and a sleeping thread pool (measured here: 6–7 ms on a 14 ms small-CNN step, landing on
  whichever side ran second in a repeat). A training process runs its steps back to back, so
  that cost belongs to neither side; `--settle 0` times it as earlier versions did.
  `--workers` (default 3) starts that many worker processes per side and times each
  float/quantized pair in turn in every repeat, so that one process's luck (its memory
  layout, a neighbour's load on this shared machine: single-pair runs have timed the same float
  step anywhere from 13 to 23 ms) weighs less. The ratio is over all workers' repeats; each
  pair's own ratio is recorded beside it (`ratio_per_worker_pair`).
- `default_heap_ratio`: the same with glibc's default settings.
- `one_process_ratio`: both models in **one process**, as earlier versions of this script
  timed them (default settings).

The minor page faults per step of each side are recorded (`*_page_faults_per_step`).

The median of the per-repeat (paired) ratios, the per-repeat ratios, the CPU-time ratio
(`cpu_ratio`, which depends less on other jobs; it also counts threads spinning while they wait
for work) and the load average before and after are recorded, so a run on a loaded machine can
be read.
Run: `python benchmarks/quant_overhead.py [--repeats N] [--steps S]`.
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from torch import nn

import thrifty
from benchmarks._common import write_result
from thrifty.models import build_model

CASES = {
    "small_cnn": {"in_channels": 1, "image_size": 28},
    "resnet20": {"in_channels": 3, "image_size": 32},
}
BATCH = 128
THREADS = 2
SEED = 0


def _step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, regularizer=None) -> None:
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y)
    if regularizer is not None:
        loss = loss + regularizer()
    loss.backward()


def _timed(fn, steps: int) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of the process, minor page faults) per step of `fn`."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        fn()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return wall / steps, cpu / steps, faults / steps


def _setup(name: str, quantized: bool):
    """One step function of the float model, or of its quantized copy (the same weights)."""
    torch.manual_seed(SEED)
    shape = CASES[name]
    model = build_model(name, num_classes=10, **shape)
    regularizer = None
    if quantized:
        model = thrifty.quantize(copy.deepcopy(model))
        regularizer = thrifty.BitlengthRegularizer(model, "bits")
    x = torch.randn(BATCH, shape["in_channels"], shape["image_size"], shape["image_size"])
    y = torch.randint(0, 10, (BATCH,))
    return lambda: _step(model, x, y, regularizer)


def _worker(connection, name: str, quantized: bool, threads: int, warmup: int) -> None:
    """A worker process: build one side, warm up, then time `steps` steps on each request."""
    torch.set_num_threads(threads)
    step = _setup(name, quantized)
    for _ in range(warmup):
        step()
    connection.send("ready")
    while (request := connection.recv()) is not None:
        steps, settle = request
        for _ in range(settle):
            step()
        connection.send(_timed(step, steps))


def _alternate(timers, repeats: int, steps: int, first_repeat: int = 0) -> tuple[list, list]:
    """Run the float and the quantized timer in turn, `repeats` times, order alternating
    (float first on even repeats, counting from `first_repeat`)."""
    float_timer, quant_timer = timers
    float_runs, quant_runs = [], []
    for repeat in range(first_repeat, first_repeat + repeats):
        if repeat % 2 == 0:
            float_runs.append(float_timer(steps))
            quant_runs.append(quant_timer(steps))
        else:
            quant_runs.append(quant_timer(steps))
            float_runs.append(float_timer(steps))
    return float_runs, quant_runs


def _summary(float_runs: list, quant_runs: list) -> dict:
    float_times, float_cpu, float_faults = (list(t) for t in zip(*float_runs, strict=True))
    quant_times, quant_cpu, quant_faults = (list(t) for t in zip(*quant_runs, strict=True))
    float_s, quant_s = statistics.median(float_times), statistics.median(quant_times)
    paired = [q / f for q, f in zip(quant_times, float_times, strict=True)]
    return {
        "float_step_median_s": float_s,
        "quantized_step_median_s": quant_s,
        "ratio": quant_s / float_s,
        "ratio_per_repeat": paired,
        "paired_ratio_median": statistics.median(paired),
        "float_step_s": float_times,
        "quantized_step_s": quant_times,
        "float_step_cpu_s": float_cpu,
        "quantized_step_cpu_s": quant_cpu,
        "cpu_ratio": statistics.median(quant_cpu) / statistics.median(float_cpu),
        "float_page_faults_per_step": statistics.median(float_faults),
        "quantized_page_faults_per_step": statistics.median(quant_faults),
    }


#: Environment of the worker processes of the headline measurement: glibc keeps freed heap
#: instead of returning it to the system (see the module docstring).
HEAP_ENV = {"MALLOC_TRIM_THRESHOLD_": str(1 << 34), "MALLOC_MMAP_THRESHOLD_": str(1 << 30)}


def _start_worker(context, args: tuple, env: dict[str, str]):
    """Start a worker process with `env` added to its environment (this process's is restored)."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        worker = context.Process(target=_worker, args=args)
        worker.start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return worker


def measure_processes(
    name: str,
    repeats: int,
    steps: int,
    threads: int,
    env: dict[str, str],
    settle: int = 1,
    workers: int = 1,
    warmup: int = 2,
) -> dict:
    """Each side in its own worker processes (`workers` per side), timed in turn (see the
    module docstring): every repeat times each float/quantized pair of workers in turn."""
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for _ in range(workers):
        for quantized in (False, True):
            parent, child = context.Pipe()
            args = (child, name, quantized, threads, warmup)
            processes.append(_start_worker(context, args, env))
            pipes.append(parent)
    try:
        for pipe in pipes:
            pipe.recv()  # "ready": built and warmed up

        def timer(pipe):
            def run(count: int):
                pipe.send((count, settle))
                return pipe.recv()

            return run

        float_runs, quant_runs, per_worker = [], [], []
        pairs = [[timer(pipes[2 * i]), timer(pipes[2 * i + 1])] for i in range(workers)]
        for repeat in range(repeats):
            for pair in pairs:
                f, q = _alternate(pair, 1, steps, first_repeat=repeat)
                float_runs += f
                quant_runs += q
        summary = _summary(float_runs, quant_runs)
        for i in range(workers):  # each pair's own ratio of medians: process-to-process spread
            f, q = float_runs[i::workers], quant_runs[i::workers]
            per_worker.append(
                statistics.median(t[0] for t in q) / statistics.median(t[0] for t in f)
            )
        summary["ratio_per_worker_pair"] = per_worker
        return summary
    finally:
        for pipe in pipes:
            pipe.send(None)
        for process in processes:
            process.join()


def measure_one_process(name: str, repeats: int, steps: int, warmup: int = 2) -> dict:
    """Both sides in this process, timed in turn (see the module docstring)."""
    float_step, quant_step = _setup(name, False), _setup(name, True)
    for _ in range(warmup):
        float_step()
        quant_step()
    timers = [lambda n, fn=fn: _timed(fn, n) for fn in (float_step, quant_step)]
    return _summary(*_alternate(timers, repeats, steps))


def measure(
    name: str,
    repeats: int,
    steps: int = 1,
    threads: int = THREADS,
    settle: int = 1,
    workers: int = 1,
) -> dict:
    """Both measurements of one model, with the load average around them."""
    load_before = os.getloadavg()[0]
    separate = measure_processes(name, repeats, steps, threads, HEAP_ENV, settle, workers)
    default_heap = measure_processes(name, repeats, steps, threads, {}, settle, workers)
    together = measure_one_process(name, repeats, steps)
    return {
        "model": name,
        "batch": BATCH,
        **separate,
        "default_heap": default_heap,
        "default_heap_ratio": default_heap["ratio"],
        "one_process": together,
        "one_process_ratio": together["ratio"],
        "repeats": repeats,
        "steps_per_repeat": steps,
        "workers_per_side": workers,
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per side")
    parser.add_argument("--steps", type=int, default=1, help="steps per side in one repeat")
    parser.add_argument(
        "--settle",
        type=int,
        default=1,
        help="untimed steps a worker runs before each timed repeat (see the module docstring)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=3,
        help="worker processes per side (each process runs at its own speed; see the docstring)",
    )
    parser.add_argument("--models", nargs="*", default=list(CASES), help="models to time")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch CPU threads")
    parser.add_argument("--name", default="quant_overhead", help="result file name")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = [
        measure(name, args.repeats, args.steps, args.threads, args.settle, args.workers)
        for name in args.models
    ]
    config = {
        "batch": BATCH,
        "threads": args.threads,
        "repeats": args.repeats,
        "steps_per_repeat": args.steps,
        "settle_steps_per_repeat": args.settle,
        "workers_per_side": args.workers,
        "order": "alternating (float first on even repeats)",
        "processes": "ratio: one worker process per side, heap trimming off (heap_env); "
        "default_heap_ratio: the same with glibc defaults; one_process_ratio: both in one",
        "heap_env": HEAP_ENV,
        "target_ratio": 1.2,
    }
    path = write_result(args.name, results, config, SEED)
    for row in results:
        print(
            f"{row['model']:>10}: float {row['float_step_median_s'] * 1e3:8.1f} ms  "
            f"quantized {row['quantized_step_median_s'] * 1e3:8.1f} ms  "
            f"ratio {row['ratio']:.2f} (paired {row['paired_ratio_median']:.2f}, CPU time "
            f"{row['cpu_ratio']:.2f}; per repeat "
            f"{min(row['ratio_per_repeat']):.2f}–"
            f"{max(row['ratio_per_repeat']):.2f}; per worker pair "
            f"{', '.join(f'{r:.2f}' for r in row['ratio_per_worker_pair'])}; "
            f"load {row['load_average_1min_before']:.1f}); "
            f"default heap: ratio {row['default_heap_ratio']:.2f}; one process: ratio "
            f"{row['one_process_ratio']:.2f}; page faults per step float / quantized: "
            f"{row['float_page_faults_per_step']:.0f} / "
            f"{row['quantized_page_faults_per_step']:.0f}, default heap "
            f"{row['default_heap']['float_page_faults_per_step']:.0f} / "
            f"{row['default_heap']['quantized_page_faults_per_step']:.0f}, one process "
            f"{row['one_process']['float_page_faults_per_step']:.0f} / "
            f"{row['one_process']['quantized_page_faults_per_step']:.0f}"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
