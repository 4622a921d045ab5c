"""Run Yosys on one design and read its area, cell count, transistor estimate and logic depth.

The flow (generic synthesis, then mapping to the cell library):

    read_rtlil; read_liberty -lib; synth -flatten       generic gates
    dfflegalize to plain D flip-flops; stat -tech cmos  Yosys's transistor estimate
    dfflibmap -liberty; abc -liberty; stat -liberty     cells of the library and their area
    ltp -noff                                           logic depth: cells on the longest path

Yosys's generic synthesis builds ripple-carry adders, so the depth is that of an area-lean
netlist, not of a timing-driven one; the area is cell area only (no wires, no placement).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from thrifty.errors import SynthesisError

_SCRIPT = """\
read_rtlil {design}
read_liberty -lib {liberty}
hierarchy -top top
synth -flatten -top top
dfflegalize -cell $_DFF_P_ 01
opt_clean
tee -o {out}/cmos.txt stat -tech cmos
dfflibmap -liberty {liberty}
abc -liberty {liberty}
opt_clean
tee -o {out}/area.txt stat -liberty {liberty}
tee -o {out}/depth.txt ltp -noff
"""


@dataclass(frozen=True)
class SynthesisFigures:
    """What Yosys reports for one design."""

    area_um2: float
    cells: int
    transistors: int | None  # None when Yosys could not count every cell
    logic_depth: int


def yosys_executable() -> str:
    """Path of the yosys binary, or a SynthesisError saying how to install it."""
    path = shutil.which("yosys")
    if path is None:
        raise SynthesisError(
            "yosys was not found on PATH; `thrifty hw synth` needs it: install it with "
            "`apt-get install yosys` (Debian/Ubuntu) or from https://github.com/YosysHQ/yosys"
        )
    return path


def yosys_version() -> str:
    """`yosys -V`, e.g. 'Yosys 0.23 (git sha1 7ce5011c24b)'."""
    done = subprocess.run([yosys_executable(), "-V"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _error_lines(log: str) -> str:
    errors = [line.strip() for line in log.splitlines() if line.strip().startswith("ERROR")]
    return errors[-1] if errors else (log.strip().splitlines() or ["(no output)"])[-1]


def check_liberty(liberty: Path) -> None:
    """SynthesisError naming the file and Yosys's complaint when it cannot read the library."""
    if not liberty.is_file():
        raise SynthesisError(f"Liberty file {liberty} does not exist; give the path of a .lib file")
    done = subprocess.run(
        [yosys_executable(), "-q", "-p", f"read_liberty -lib {liberty}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        complaint = _error_lines(done.stdout + done.stderr)
        raise SynthesisError(
            f"Yosys could not read the Liberty file {liberty}: {complaint}; "
            "give a Liberty (.lib) cell library with each cell's area and pin functions"
        )


def run_yosys(rtlil_file: Path, liberty: Path, workdir: Path) -> SynthesisFigures:
    """Synthesize `rtlil_file` (top module `top`) against `liberty`; logs go to `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "synth.ys"
    script.write_text(_SCRIPT.format(design=rtlil_file, liberty=liberty, out=workdir))
    log = workdir / "yosys.log"
    with open(log, "w") as handle:
        done = subprocess.run(
            [yosys_executable(), "-q", "-s", str(script)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        raise SynthesisError(
            f"Yosys failed on {rtlil_file.name} with {liberty}: {_error_lines(log.read_text())} "
            f"(full log: {log}); check that the Liberty file has combinational cells, a buffer "
            "and a D flip-flop"
        )
    return parse_reports(workdir)


def parse_reports(workdir: Path) -> SynthesisFigures:
    """Read the three reports the flow wrote into `workdir`."""
    area_text = (workdir / "area.txt").read_text()
    cmos_text = (workdir / "cmos.txt").read_text()
    depth_text = (workdir / "depth.txt").read_text()
    area = re.search(r"Chip area for module .*?:\s*([0-9.]+)", area_text)
    cells = re.search(r"Number of cells:\s*(\d+)", area_text)
    transistors = re.search(r"Estimated number of transistors:\s*(\d+)(\+?)", cmos_text)
    depth = re.search(r"length=(\d+)", depth_text)
    if area is None or cells is None or depth is None:
        raise SynthesisError(
            f"could not read Yosys's reports in {workdir} (area, cells or depth missing); "
            "see yosys.log there"
        )
    count = None
    if transistors is not None and not transistors.group(2):
        count = int(transistors.group(1))
    return SynthesisFigures(
        area_um2=float(area.group(1)),
        cells=int(cells.group(1)),
        transistors=count,
        logic_depth=int(depth.group(1)),
    )
