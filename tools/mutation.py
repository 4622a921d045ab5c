"""Mutation testing of thrifty's pure-Python cores with mutmut (slow; not part of the test suite).

For each target (one source file and the small, fast subset of tests that should catch a change
in it), this script builds a scratch copy of the package and of the tests under
`build/mutation/<target>/`, writes a mutmut configuration that mutates that one file only, runs
`mutmut run` there, and collects the outcome of every mutant (killed, survived, no tests,
timeout, ...). It prints one line per target and writes everything, with the mutmut and thrifty
versions and the surviving mutants' names, to `benchmarks/results/mutation.json` (or `--output`).

    pip install -e ".[mutation]"
    nice python tools/mutation.py                      # every target, one at a time
    nice python tools/mutation.py pe_oracle codec      # some targets
    mutmut show NAME  (run inside build/mutation/<target>/) prints a surviving mutant's diff

Score = detected / (mutants that ran: killed + timeout + survived + suspicious + segfault), where
a mutant is detected when a test failed (killed) or it hung past mutmut's time limit (timeout:
e.g. an endless loop, which a test run would also reveal); "no tests" mutants
(code no selected test reaches) are reported apart, so they lower nothing silently: they are
listed. The triage of the survivors lives in docs/testing.md.

Why a scratch copy: mutmut reads its configuration from the current folder's pyproject.toml and
rewrites the package under `mutants/`; a copy keeps the working tree and its pyproject.toml
untouched, and one target's run from disturbing another's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from thrifty._io import write_json_atomic  # noqa: E402
from thrifty._provenance import provenance  # noqa: E402

SCRATCH = ROOT / "build" / "mutation"
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "mutation.json"


@dataclass(frozen=True)
class Target:
    """One file to mutate and the tests that run against each of its mutants."""

    source: str
    tests: tuple[str, ...]
    why: str
    #: globs on function names (mutmut's `x_<function>` / `xǁ<Class>ǁ<method>`): mutate only
    #: these; empty: every function of the file
    functions: tuple[str, ...] = ()


TARGETS: dict[str, Target] = {
    "pe_oracle": Target(
        "thrifty/hw/pe/oracle.py",
        ("tests/hw/pe/test_oracle.py", "tests/hw/pe/test_boundaries.py"),
        "the scalar PE oracle every fast model is checked against",
    ),
    "terms": Target(
        "thrifty/numerics/terms.py",
        ("tests/numerics/test_terms.py", "tests/numerics/test_terms_contract.py"),
        "term encodings (reference and vectorized)",
    ),
    "quant_reference": Target(
        "thrifty/quant/functional.py",
        (
            "tests/quant/test_functional.py",
            "tests/quant/test_edges.py",
            "tests/quant/test_reference_contract.py",
        ),
        "the quantizer's reference path (int, symmetric, mantissa, fractional; not the numba "
        "dispatch plumbing)",
        (
            "x__int_levels__*",
            "x_int_quantize__*",
            "x__int_quantize_inplace__*",
            "x_mantissa_quantize__*",
            "x__both_levels__*",
            "x__int_level__*",
            "x_quantize_at_integer__*",
            "x_fractional_quantize__*",
            "xǁ_FusedFractionalǁ*",
            "xǁ_StraightThroughǁ*",
        ),
    ),
    "codec_format": Target(
        "thrifty/hw/codec/format.py",
        (
            "tests/hw/codec/test_codec.py",
            "tests/hw/codec/test_widths.py",
            "tests/hw/codec/test_container.py",
        ),
        "the codec's container format (header, shape, payload checks)",
    ),
    "costs": Target(
        "thrifty/quant/costs.py",
        (
            "tests/quant/test_regularizer.py",
            "tests/quant/test_options.py",
            "tests/quant/test_regularizer_gradient.py",
            "tests/quant/test_costs_contract.py",
            "tests/quant/test_terms_criterion.py",
            "tests/quant/test_terms_cost_contract.py",
        ),
        "the cost criteria of the regularizer (bits, memory, bitops, terms)",
    ),
    "claims": Target(
        "thrifty/quickstart/claims.py",
        ("tests/quickstart/test_claims.py", "tests/quickstart/test_claims_contract.py"),
        "the quickstart's claim verdicts",
    ),
}

#: mutmut's outcome names, as `mutmut export-cicd-stats` writes them.
RAN = ("killed", "survived", "timeout", "suspicious", "segfault")
DETECTED = ("killed", "timeout")


def _score(counts: dict[str, int]) -> float | None:
    """Detected mutants over those that ran (None when none ran)."""
    ran = sum(int(counts.get(key, 0)) for key in RAN)
    return sum(int(counts.get(key, 0)) for key in DETECTED) / ran if ran else None


def _prepare(name: str, target: Target) -> Path:
    """A fresh scratch folder with the package, the tests and a mutmut configuration."""
    folder = SCRATCH / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    shutil.copytree(ROOT / "thrifty", folder / "thrifty", ignore=ignore)
    shutil.copytree(ROOT / "tests", folder / "tests", ignore=ignore)
    tests = [t for t in target.tests if (ROOT / t).exists()]
    missing = sorted(set(target.tests) - set(tests))
    if missing:
        print(f"[{name}] note: test files not found, skipped: {missing}")
    config = (
        "[tool.mutmut]\n"
        'source_paths = ["thrifty"]\n'
        f"only_mutate = [{json.dumps(target.source)}]\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-p", "no:randomly"]\n'
        "use_git_change_detection = false\n"
        'process_isolation = "forkserver"\n'
        "\n[tool.pytest.ini_options]\n"
        'pythonpath = ["."]\n'
        'addopts = ""\n'
        'markers = ["slow: takes more than ~10 s"]\n'
    )
    (folder / "pyproject.toml").write_text(config)
    return folder


def _mutmut(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "mutmut", *args]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)


def _survivors(folder: Path) -> list[str]:
    """Names of the mutants that survived, from `mutmut results`."""
    listing = _mutmut(folder, "results").stdout
    return sorted(
        line.split(":")[0].strip()
        for line in listing.splitlines()
        if line.strip().endswith(": survived")
    )


def run_target(name: str, target: Target, max_children: int) -> dict[str, object]:
    """Run mutmut on one target and return its counts, score and survivors."""
    folder = _prepare(name, target)
    start = time.perf_counter()
    module = target.source.removesuffix(".py").replace("/", ".")
    names = [f"{module}.{pattern}" for pattern in target.functions]
    run = _mutmut(folder, "run", "--max-children", str(max_children), *names)
    elapsed = time.perf_counter() - start
    (folder / "mutmut-run.log").write_text(run.stdout + run.stderr)
    export = _mutmut(folder, "export-cicd-stats")
    stats_path = folder / "mutants" / "mutmut-cicd-stats.json"
    if run.returncode != 0 or export.returncode != 0 or not stats_path.exists():
        return {
            "source": target.source,
            "tests": list(target.tests),
            "error": f"mutmut failed (exit {run.returncode}); see {folder / 'mutmut-run.log'}",
        }
    stats = json.loads(stats_path.read_text())
    return {
        "source": target.source,
        "tests": list(target.tests),
        "why": target.why,
        "counts": stats,
        "functions": list(target.functions) or "all",
        "source_sha256": hashlib.sha256((ROOT / target.source).read_bytes()).hexdigest(),
        "mutants_ran": sum(int(stats.get(key, 0)) for key in RAN),
        "score": _score(stats),
        "survivors": _survivors(folder),
        "wall_s": round(elapsed, 1),
    }


def _print_table(results: dict[str, dict]) -> None:
    """One markdown row per target: file, tests, mutants, detected, survived, score."""
    for name, r in results.items():
        if "counts" not in r:
            print(f"| {name} | `{r['source']}` | | | | | error |")
            continue
        c = r["counts"]
        tests = ", ".join(f"`{Path(t).name}`" for t in r["tests"])
        only = "" if r.get("functions", "all") == "all" else " (reference functions)"
        detected = int(c.get("killed", 0)) + int(c.get("timeout", 0))
        print(
            f"| {name} | `{r['source']}`{only} | {tests} | {r['mutants_ran']} | {detected} "
            f"| {len(r['survivors'])} | {_score(c):.3f} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"targets to run (default all): {list(TARGETS)}")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutant runs")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON result file")
    parser.add_argument(
        "--table", action="store_true", help="print the result file as docs/testing.md's table"
    )
    args = parser.parse_args(argv)
    if args.table:
        _print_table(json.loads(args.output.read_text())["results"])
        return 0
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {list(TARGETS)}")
    chosen = args.targets or list(TARGETS)
    previous = json.loads(args.output.read_text()) if args.output.exists() else {}
    results = dict(previous.get("results", {}))  # keep the targets not rerun this time
    for kept in results.values():  # one scoring rule for every target in the file
        if "counts" in kept:
            kept["score"] = _score(kept["counts"])
    for name in chosen:
        result = run_target(name, TARGETS[name], args.max_children)
        results[name] = result
        if "error" in result:
            print(f"{name:16s} ERROR {result['error']}")
        else:
            counts = result["counts"]
            print(
                f"{name:16s} score {result['score']:.3f}  killed {counts.get('killed', 0)}"
                f" + timeout {counts.get('timeout', 0)} / ran {result['mutants_ran']}  survived "
                f"{len(result['survivors'])}  no tests "
                f"{counts.get('no_tests', 0)}  ({result['wall_s']} s)"
            )
        config = {
            "tool": "mutmut",
            "mutmut_version": version("mutmut"),
            "max_children": args.max_children,
            "targets": {
                key: {"source": t.source, "tests": list(t.tests)} for key, t in TARGETS.items()
            },
        }
        write_json_atomic(
            args.output, {"benchmark": "mutation", **provenance(config, None), "results": results}
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
