"""The layering is a checked contract: import-linter runs the `[tool.importlinter]` contract of
pyproject.toml (numerics → quant → data / trace → train → hw / export → report → quickstart →
cli, each importing only from the layers below it)."""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

REPO = Path(__file__).resolve().parents[1]


def _lint(config: Path) -> int:
    return lint_imports(config_filename=str(config), no_cache=True, no_logo=True)


def test_no_import_runs_back_up_the_layers(capsys) -> None:
    assert _lint(REPO / "pyproject.toml") == 0, capsys.readouterr().out


def test_the_check_catches_an_import_that_runs_back_up(tmp_path, capsys) -> None:
    """pyproject.toml's layers with quant and report swapped: train (now above report's old
    place but below quant) imports quant, which runs back up and is named as broken."""
    layers = ["cli", "quickstart", "quant", "hw", "train", "data | trace", "report", "numerics"]
    lines = [
        "[tool.importlinter]",
        'root_package = "thrifty"',
        "[[tool.importlinter.contracts]]",
        'name = "swapped"',
        'type = "layers"',
        'containers = ["thrifty"]',
        "layers = [" + ", ".join(f'"{layer}"' for layer in layers) + "]",
    ]
    config = tmp_path / "swapped.toml"
    config.write_text("\n".join(lines) + "\n")
    assert _lint(config) == 1
    out = capsys.readouterr().out
    assert "swapped BROKEN" in out and "thrifty.train" in out
