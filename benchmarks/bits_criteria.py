"""Benchmark: the three regularizer criteria at one λ — does each lower its own cost most?

Small CNN on a Fashion-MNIST subset, as `bits_front.py`. Per seed, one float model
(`--float-steps`); from it, one run per criterion ('bits', 'memory', 'bitops') at the same
strength λ (`--strength`, no target): learn bitlengths (`--learn-steps`), `freeze` (round up),
fine-tune (`--finetune-steps`). For each run the three costs are measured on the same model
(thrifty.summary): mean per-layer bits, memory-weighted bits (weighted by elements stored) and
bit-operations per sample (MACs × weight bits × input bits), both before the round-up of
`freeze` (the costs the regularizer saw) and after it, with the test accuracy.

The criteria's costs are in different units (bits, bits, bits²), so one λ is not one pull:
the comparison is the one users make when they switch the criterion and keep λ.

    python benchmarks/bits_criteria.py
    python benchmarks/bits_criteria.py --table benchmarks/results/bits_criteria.json

Writes benchmarks/results/<name>.json. Not a test.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

import thrifty  # noqa: E402
from benchmarks._common import write_result  # noqa: E402
from benchmarks.bits_front import fit  # noqa: E402
from benchmarks.bits_lr import accuracy, fashion_subset  # noqa: E402
from thrifty.models import SmallCNN  # noqa: E402
from thrifty.quant.quantize import DEFAULT_BITS_LR  # noqa: E402

CRITERIA = ("bits", "memory", "bitops")
#: Summary attribute of each cost (the regularizer's criterion of the same name).
COSTS = {"bits": "mean_bits", "memory": "memory_weighted_bits", "bitops": "bitops"}


def costs(model) -> dict[str, float]:
    """The three costs of the model's current bitlengths (bitops per sample)."""
    summary = thrifty.summary(model)
    return {cost: float(getattr(summary, attribute)) for cost, attribute in COSTS.items()}


def run(criterion: str, float_model, data, args, seed: int) -> dict[str, Any]:
    model = thrifty.quantize(copy.deepcopy(float_model))
    reg = thrifty.BitlengthRegularizer(model, criterion=criterion, strength=args.strength)
    optimizer = torch.optim.Adam(thrifty.param_groups(model, lr=args.lr, bits_lr=args.bits_lr))
    fit(model, optimizer, data, args.learn_steps, seed + 1, reg)
    learned = costs(model)
    thrifty.freeze(model)
    optimizer = torch.optim.Adam(thrifty.param_groups(model, lr=args.finetune_lr))
    fit(model, optimizer, data, args.finetune_steps, seed + 2)
    return {"accuracy": accuracy(model, data), "learned": learned, "frozen": costs(model)}


def table(path: Path) -> str:
    """Markdown table of a results file: per criterion, mean cost over seeds (learned and
    after freeze), the lowest of each column in bold."""
    summary = json.loads(path.read_text())["results"]["summary"]
    lines = [
        "| criterion | top-1 % | mean bits (learned → frozen) | memory-weighted bits "
        "(learned → frozen) | bit-ops M/sample (learned → frozen) |",
        "|---|---|---|---|---|",
    ]
    best = {
        (stage, cost): min(row[stage][cost] for row in summary.values())
        for stage in ("learned", "frozen")
        for cost in COSTS
    }

    def cell(row: dict[str, Any], cost: str) -> str:
        scale, digits = (1e-6, 2) if cost == "bitops" else (1.0, 3)
        parts = []
        for stage in ("learned", "frozen"):
            text = f"{scale * row[stage][cost]:.{digits}f}"
            parts.append(f"**{text}**" if row[stage][cost] == best[(stage, cost)] else text)
        return " → ".join(parts)

    for criterion, row in summary.items():
        lines.append(
            f"| {criterion} | {100 * row['accuracy']:.2f} | {cell(row, 'bits')} | "
            f"{cell(row, 'memory')} | {cell(row, 'bitops')} |"
        )
    return "\n".join(lines)


def summarize(per_seed: list[dict[str, Any]], criteria: list[str]) -> dict[str, Any]:
    """Mean accuracy and costs per criterion over seeds, and whether each criterion's run has
    the lowest value of its own cost (learned, and after freeze)."""
    summary = {
        criterion: {
            "accuracy": statistics.fmean(r[criterion]["accuracy"] for r in per_seed),
            **{
                stage: {
                    cost: statistics.fmean(r[criterion][stage][cost] for r in per_seed)
                    for cost in COSTS
                }
                for stage in ("learned", "frozen")
            },
            "n": len(per_seed),
        }
        for criterion in criteria
    }
    own_lowest = {
        stage: {
            criterion: min(summary, key=lambda c, s=stage, k=criterion: summary[c][s][k])
            == criterion
            for criterion in criteria
        }
        for stage in ("learned", "frozen")
    }
    return {"summary": summary, "each_criterion_lowest_on_its_own_cost": own_lowest}


def merge(paths: list[Path], name: str) -> Path:
    """One results file from runs in separate processes (e.g. one per seed)."""
    payloads = [json.loads(path.read_text()) for path in paths]
    per_seed = sorted(
        (row for p in payloads for row in p["results"]["per_seed"]), key=lambda r: r["seed"]
    )
    criteria = [c for c in CRITERIA if all(c in row for row in per_seed)]
    return write_result(
        name,
        {
            "command": payloads[0]["results"]["command"],
            "merged_from": [
                {"file": path.name, "command": p["results"]["command"]}
                for path, p in zip(paths, payloads, strict=True)
            ],
            **summarize(per_seed, criteria),
            "per_seed": per_seed,
        },
        config={**payloads[0]["config"], "seeds": [r["seed"] for r in per_seed], "name": name},
        seed=per_seed[0]["seed"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--criteria", nargs="+", default=list(CRITERIA), choices=CRITERIA)
    parser.add_argument("--strength", type=float, default=0.05, help="λ of every criterion")
    parser.add_argument("--train", type=int, default=10000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--float-steps", type=int, default=1500)
    parser.add_argument("--learn-steps", type=int, default=400)
    parser.add_argument("--finetune-steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--finetune-lr", type=float, default=5e-4)
    parser.add_argument("--bits-lr", type=float, default=DEFAULT_BITS_LR)
    parser.add_argument("--name", default="bits_criteria")
    parser.add_argument("--table", type=Path, default=None, help="print a results file's table")
    parser.add_argument(
        "--merge", type=Path, nargs="+", default=None, help="merge results files into <name>"
    )
    args = parser.parse_args()
    if args.table is not None:
        print(table(args.table))
        return
    if args.merge is not None:
        print(f"wrote {merge(args.merge, args.name)}")
        return
    torch.set_num_threads(1)
    command = "python benchmarks/bits_criteria.py " + " ".join(sys.argv[1:])
    data = fashion_subset(args.train, args.test)
    per_seed: list[dict[str, Any]] = []
    for seed in args.seeds:
        torch.manual_seed(seed)
        float_model = SmallCNN()
        optimizer = torch.optim.Adam(float_model.parameters(), lr=2e-3)
        fit(float_model, optimizer, data, args.float_steps, seed)
        row: dict[str, Any] = {"seed": seed, "float_accuracy": accuracy(float_model, data)}
        for criterion in args.criteria:
            start = time.perf_counter()
            torch.manual_seed(seed)
            row[criterion] = run(criterion, float_model, data, args, seed)
            row[criterion]["seconds"] = time.perf_counter() - start
            result = row[criterion]
            print(
                f"seed {seed} {criterion:<7} {100 * result['accuracy']:.2f}% "
                + " ".join(f"{k} {v:.4g}" for k, v in result["learned"].items())
                + " | frozen "
                + " ".join(f"{k} {v:.4g}" for k, v in result["frozen"].items()),
                flush=True,
            )
        per_seed.append(row)
        path = write_result(
            args.name,
            {"command": command, **summarize(per_seed, args.criteria), "per_seed": per_seed},
            config=vars(args),
            seed=args.seeds[0],
        )
    own_lowest = json.loads(path.read_text())["results"]["each_criterion_lowest_on_its_own_cost"]
    print(table(path))
    print(f"each criterion lowest on its own cost: {own_lowest}")


if __name__ == "__main__":
    main()
