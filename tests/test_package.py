"""The package's foundation: version, error hierarchy, atomic writes, the CLI entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import thrifty
from thrifty._config import FrozenConfig, parse_config
from thrifty._io import atomic_path, write_json_atomic
from thrifty.errors import ConfigError, ThriftyError


def test_version_is_exposed() -> None:
    assert thrifty.__version__.count(".") == 2


def test_error_hierarchy_keeps_builtin_bases() -> None:
    assert issubclass(thrifty.ConfigError, ValueError)
    assert issubclass(thrifty.TraceError, OSError)
    assert issubclass(thrifty.DataError, ThriftyError)


def test_atomic_write_leaves_nothing_on_failure(tmp_path) -> None:
    target = tmp_path / "result.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


class _Example(FrozenConfig):
    lanes: int = 8


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="unknown key 'lane'"):
        parse_config(_Example, {"lane": 4}, "example config")
    with pytest.raises(ConfigError, match="lanes"):
        parse_config(_Example, {"lanes": "many"}, "example config")
    assert parse_config(_Example, None, "example config").lanes == 8


def test_cli_prints_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "thrifty.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"thrifty {thrifty.__version__}"


def test_atomic_write_gives_ordinary_file_permissions(tmp_path) -> None:
    import os

    umask = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "shared.json", {})
    finally:
        os.umask(umask)
    assert (tmp_path / "shared.json").stat().st_mode & 0o777 == 0o644
