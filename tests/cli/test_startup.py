"""What the `thrifty` command costs around its work: no plotting library loaded unless a
command draws, and the interpreter's final collections spared at exit."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

import thrifty.cli as cli


def test_importing_the_commands_loads_no_plotting_library() -> None:
    """matplotlib takes about 0.4 s to import; `thrifty simulate --no-plots` never needs it."""
    code = (
        "import sys, thrifty.cli, thrifty.report, thrifty.report.simulation_plots; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_main_registers_the_exit_hook_once(monkeypatch) -> None:
    registered = []
    monkeypatch.setattr(cli.atexit, "register", registered.append)
    monkeypatch.setattr(cli, "_exit_hook_registered", False)
    monkeypatch.setattr(sys, "argv", ["thrifty", "--version"])
    for _ in range(2):
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        assert exit_info.value.code == 0
    assert registered == [cli._spare_final_collections]


def test_exit_hook_moves_every_object_out_of_the_collector_s_reach() -> None:
    assert gc.get_freeze_count() == 0  # pytest's process: nothing frozen
    try:
        cli._spare_final_collections()
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()  # leave the process as found
    assert gc.get_freeze_count() == 0
