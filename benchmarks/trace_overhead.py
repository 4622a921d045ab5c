"""Overhead of the trace machinery on training steps that are not captured.

Side by side in one run: the same model, data and optimizer step, timed in alternating rounds
(ABBA order against drift) as
  plain      — no capture at all;
  attached   — inside `thrifty.trace.capture`, `cap.step(...)` called before every step, the
               schedule choosing none of them (hooks are attached only on captured steps);
  captured   — every step captured into a temporary store (for information: the cost of a
               captured step, dominated by copying and writing the tensors).
Reports medians of per-step seconds and the ratio attached / plain (target: <= 1.03), and
the time of one `cap.step` call on an uncaptured step (the machinery's whole cost there).

    python benchmarks/trace_overhead.py [--rounds 15] [--steps 3] [--model resnet20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import thrifty.trace as tt
from benchmarks._common import write_result
from thrifty.models import build_model

#: Input geometry of each model: (in_channels, image_size).
INPUTS = {"small_cnn": (1, 28), "lenet5": (1, 28), "resnet20": (3, 32), "resnet18": (3, 32)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20", choices=sorted(INPUTS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=3, help="training steps per timed block")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    channels, size = INPUTS[args.model]
    model = build_model(args.model, num_classes=10, in_channels=channels, image_size=size)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, channels, size, size)
    y = torch.randint(0, 10, (args.batch,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    def block(cap: tt.Capture | None, counter: list[int]) -> float:
        start = time.perf_counter()
        for _ in range(args.steps):
            if cap is not None:
                cap.step(epoch=0, step=counter[0])
            counter[0] += 1
            train_step()
        return (time.perf_counter() - start) / args.steps

    with tempfile.TemporaryDirectory() as tmp:
        never = tt.TraceConfig(epochs=[10**9])  # a schedule that chooses no step
        times: dict[str, list[float]] = {"plain": [], "attached": []}
        counter = [0]
        with tt.capture(model, Path(tmp) / "never", never) as cap:
            for _ in range(2):  # warm-up
                block(None, counter)
                block(cap, counter)
            for round_ in range(args.rounds):
                order = ("plain", "attached") if round_ % 2 == 0 else ("attached", "plain")
                for name in order:
                    times[name].append(block(cap if name == "attached" else None, counter))
            # The machinery's own cost on an uncaptured step, free of the training's noise.
            calls = 2000
            start = time.perf_counter()
            for _ in range(calls):
                cap.step(epoch=0, step=counter[0])
            step_call_s = (time.perf_counter() - start) / calls
        captured = []
        with tt.capture(model, Path(tmp) / "all") as cap_all:
            for step in range(max(2, args.rounds // 5)):
                start = time.perf_counter()
                cap_all.step(epoch=0, step=step)
                train_step()
                captured.append(time.perf_counter() - start)
        store_bytes = sum(f.stat().st_size for f in (Path(tmp) / "all").iterdir())

    plain = statistics.median(times["plain"])
    attached = statistics.median(times["attached"])
    paired = statistics.median(
        a / p for a, p in zip(times["attached"], times["plain"], strict=True)
    )
    results = {
        "model": args.model,
        "batch": args.batch,
        "plain_step_median_s": plain,
        "attached_uncaptured_step_median_s": attached,
        "ratio_attached_over_plain": attached / plain,
        "paired_ratio_median": paired,
        "step_call_s": step_call_s,
        "step_call_over_plain_step": step_call_s / plain,
        "captured_step_median_s": statistics.median(captured),
        "captured_step_bytes": store_bytes // len(captured),
        "rounds": args.rounds,
        "steps_per_round": args.steps,
    }
    for key, value in results.items():
        print(f"{key:36s} {value:.4g}" if isinstance(value, float) else f"{key:36s} {value}")
    path = write_result(f"trace_overhead_{args.model}", results, config=vars(args), seed=0)
    print(f"written {path}")


if __name__ == "__main__":
    main()
