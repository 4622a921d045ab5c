"""Rerun each surviving mutant of a finished `tools/mutation.py` target by hand, outside mutmut.

mutmut's own run can report a mutant as surviving although the target's tests fail on it (seen
on the quantizer's reference functions under heavy machine load); this script applies each
survivor through mutmut's trampoline (the `MUTANT_UNDER_TEST` environment variable, in the
target's `build/mutation/<target>/mutants/` copy) and runs the target's tests once, so every
survivor in the triage table is confirmed by a plain pytest run.

    nice python tools/confirm_survivors.py quant_reference      # after tools/mutation.py ran it
    nice python tools/confirm_survivors.py claims --names x_claim_line__mutmut_3 ...

Prints one line per mutant (killed / survived) and writes them to
`build/mutation/<target>/confirmed.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from mutation import SCRATCH, TARGETS, _survivors  # noqa: E402


def confirm(target: str, names: list[str] | None = None) -> dict[str, str]:
    """Each named (default: every surviving) mutant of `target`: 'killed' or 'survived'."""
    folder = SCRATCH / target
    if not (folder / "mutants").is_dir():
        raise SystemExit(f"no mutmut run of {target!r} under {folder}; run tools/mutation.py first")
    if names is None:
        names = _survivors(folder)
    module = TARGETS[target].source.removesuffix(".py").replace("/", ".")
    tests = [t for t in TARGETS[target].tests if (ROOT / t).exists()]
    verdicts = {}
    for name in names:
        full = name if name.startswith(module) else f"{module}.{name}"
        env = {**os.environ, "MUTANT_UNDER_TEST": full, "HYPOTHESIS_PROFILE": "ci",
               "OMP_NUM_THREADS": "1"}  # fmt: skip
        command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
        command += ["-p", "no:randomly", *tests]
        run = subprocess.run(
            command, cwd=folder / "mutants", env=env, capture_output=True, text=True
        )
        verdicts[full] = "survived" if run.returncode == 0 else "killed"
        print(f"{verdicts[full]:9s} {full}", flush=True)
    (folder / "confirmed.json").write_text(json.dumps(verdicts, indent=1) + "\n")
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=list(TARGETS))
    parser.add_argument("--names", nargs="*", help="mutants to rerun (default: every survivor)")
    args = parser.parse_args(argv)
    confirm(args.target, args.names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
