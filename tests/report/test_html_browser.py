"""The quickstart page in a real browser: headless Chromium renders it without errors.

Needs Debian's `chromium` (`apt-get install -y --no-install-recommends chromium`, done by
`.ci/run`); skipped with that instruction where it is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from thrifty.quickstart.sample import sample_report_dict
from thrifty.report.html import write_html_report

CHROMIUM = shutil.which("chromium")
WINDOW = (1280, 2000)
BROWSER_TIMEOUT_S = 120

pytestmark = pytest.mark.skipif(
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
    return write_html_report(sample_report_dict(), tmp_path_factory.mktemp("page") / "report.html")


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


def test_dom_has_plots_numbers_and_no_console_messages(page: Path, tmp_path: Path) -> None:
    result = _chromium(page, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console_lines(result.stderr) == []
    dom = result.stdout
    assert len(re.findall(r'<img src="data:image/png;base64,', dom)) == 6
    assert dom.count('<span class="badge">HELD</span>') == 3
    for text in ("87.5 %", "1.50×", "3.75×", "w 3.50 · a 5", "9.50", "2,000,000"):
        assert f"<td>{text}</td>" in dom


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
