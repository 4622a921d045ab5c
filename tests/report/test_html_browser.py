"""The quickstart page in a real browser: headless Chromium renders it without errors.

Two pages: one from the hand-made sample report (exact numbers checked), and one from the real
quickstart pipeline at a seconds-long budget on digits (real training, trace capture,
simulator and codec; its report.json keys are checked without a browser too).

Needs Debian's `chromium` (`apt-get install -y --no-install-recommends chromium`, done by
`.ci/run`); the browser tests are skipped with that instruction where it is not installed.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.report._reports import judged, sample_report_dict
from thrifty.quickstart import run_quickstart
from thrifty.quickstart.budget import FAST_BUDGET
from thrifty.report.html import write_html_report

CHROMIUM = shutil.which("chromium")
WINDOW = (1280, 2000)
BROWSER_TIMEOUT_S = 120

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed: "
    "apt-get install -y --no-install-recommends chromium",
)


def _chromium(page: Path, profile: Path, *mode: str) -> subprocess.CompletedProcess:
    """Run headless Chromium on `page` offline, with console messages logged to stderr."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *mode,
        page.as_uri(),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False
    )


def _console_lines(stderr: str) -> list[str]:
    """Messages the page wrote to the console (errors, blocked loads, uncaught exceptions)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    return write_html_report(
        judged(sample_report_dict()), tmp_path_factory.mktemp("page") / "report.html"
    )


TINY_BUDGET = dataclasses.replace(
    FAST_BUDGET,
    name="tiny",
    train_examples=192,
    test_examples=96,
    batch_size=32,
    trace_batch_size=4,
    sim_sample_fraction=0.05,
)
"""A real quickstart run of a few seconds: every stage composed, nothing faked."""


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("quickstart")
    missing = out / "no-fashion-mnist"  # falls back to digits, and says so
    run_quickstart(out, progress=False, dataset_root=missing, budget=TINY_BUDGET)
    return out


def test_real_pipeline_report_has_every_section(real_run: Path) -> None:
    report = json.loads((real_run / "report.json").read_text())
    assert report["dataset"]["name"] == "digits" and report["dataset"]["fell_back"]
    assert "no-fashion-mnist" in report["dataset"]["reason"]
    assert [v["name"] for v in report["variants"]] == [
        "float32",
        "pruned",
        "integer_bits",
        "float_bits",
    ]
    policies = report["hardware"]["sync_policies"]
    assert policies == ["tile", "row", "ideal"]
    areas = {a["baseline"]: a for a in report["hardware"]["areas"]}
    assert report["hardware"]["area_ratio"] == areas["dot_product"]["ratio"] > 0
    assert areas["per_lane_fma"]["ratio"] > 0
    assert all(a["source"].startswith(("synthesis (", "hand count (")) for a in areas.values())
    assert [w["window"] for w in report["windows"]] == ["accumulator", "product"]
    for variant in report["variants"]:
        assert 0.0 <= variant["accuracy"] <= 1.0
        assert {op["op"] for op in variant["ops"]} == {
            "forward",
            "backward_data",
            "backward_weight",
        }
        for op in [*variant["ops"], variant["total"]]:
            assert set(op["speedup"]) == set(policies) == set(op["energy_efficiency"])
            terms = op["terms"]
            assert terms["zero"] + terms["out_of_bounds"] + terms["processed"] <= terms["total"]
        assert len(variant["iso_area_sweep"]) >= 2
        assert {c["tensor_class"] for c in variant["codec"]} == {
            "weights",
            "activations",
            "gradients",
        }
    bits = {v["name"]: v["layers"] for v in report["variants"]}
    assert all(row["weight_bits"] is not None for row in bits["integer_bits"])
    assert all(0 <= row["weight_bits"] <= 7 for row in bits["float_bits"])
    assert [(c["number"], c["baseline"]) for c in report["claims"]] == [
        (1, "dot_product"), (1, "per_lane_fma"), (2, None), (3, None)
    ]  # fmt: skip
    for claim in report["claims"]:
        assert claim["numbers"] and claim["sentence"].startswith(
            "Held" if claim["held"] else "Not held"
        )
    assert (real_run / "report.html").stat().st_size > 10_000


@needs_chromium
def test_real_pipeline_page_renders_with_plots_and_no_console_errors(
    real_run: Path, tmp_path: Path
) -> None:
    result = _chromium(real_run / "report.html", tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console_lines(result.stderr) == []
    dom = result.stdout
    assert len(re.findall(r'<img src="data:image/png;base64,', dom)) >= 5
    assert dom.count('class="badge') >= 3
    assert "digits" in dom and "float32" in dom.lower()


@needs_chromium
def test_screenshot_is_a_rendered_page(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    result = _chromium(page, tmp_path / "profile", f"--screenshot={shot}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console_lines(result.stderr) == []
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.size == WINDOW
        colours = image.convert("RGB").getcolors(1 << 20)
    # Text, plots and badges: far more than a blank or one-colour page.
    assert colours is not None and len(colours) > 200
    # The variant colours of the plots are on screen (first figure is within the window).
    present = {rgb for _, rgb in colours}
    assert (0x4C, 0x72, 0xB0) in present and (0xC4, 0x4E, 0x52) in present


@needs_chromium
def test_dom_has_plots_numbers_and_no_console_messages(page: Path, tmp_path: Path) -> None:
    result = _chromium(page, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console_lines(result.stderr) == []
    dom = result.stdout
    assert len(re.findall(r'<img src="data:image/png;base64,', dom)) == 6
    assert dom.count('<span class="badge">HELD</span>') == 3
    for text in ("87.5 %", "1.50×", "3.75×", "w 3.50 · a 5", "9.50", "2,000,000"):
        assert f"<td>{text}</td>" in dom


@needs_chromium
def test_console_check_catches_blocked_loads(tmp_path: Path) -> None:
    """The check above can fail: an outside image is blocked and reported on the console."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; img-src data:\"></head>"
        '<body><img src="http://example.invalid/a.png"></body></html>'
    )
    result = _chromium(bad, tmp_path / "profile", "--dump-dom")
    assert any("example.invalid" in line for line in _console_lines(result.stderr))
