"""The quickstart HTML page: self-contained, generated from the JSON, escaped, atomic."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image

from tests.report._reports import judged, sample_report_dict, scale_speedups, with_baselines
from thrifty.errors import ConfigError, ThriftyError
from thrifty.quickstart import load_report
from thrifty.report import quickstart_plots as plots
from thrifty.report.html import render_html_report, write_html_report
from thrifty.report.html_page import element, table
from thrifty.report.number_format import format_bits, format_percent, format_plain, format_ratio

_IMAGE = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)">')


@pytest.fixture(scope="module")
def sample_page(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("html") / "report.html"
    assert write_html_report(judged(sample_report_dict()), path) == path
    return path.read_text(encoding="utf-8")


def test_page_embeds_six_decodable_pngs(sample_page: str) -> None:
    images = _IMAGE.findall(sample_page)
    assert [alt for _, alt in images] == [
        "speedup per variant, training operation and sync policy",
        "energy efficiency per variant, training operation and sync policy",
        "term breakdown per variant and operation",
        "whole-step speedup against area ratio",
        "learned bits per layer",
        "codec bits per value",
    ]
    for data, alt in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            assert image.format == "PNG", alt
            assert image.width >= 600 and len(image.getcolors(1 << 16) or []) > 8, alt


def test_page_loads_nothing_from_outside(sample_page: str) -> None:
    assert sample_page.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert "default-src 'none'; img-src data:" in sample_page
    for forbidden in ("http://", "https://", "<script", "<link", 'src="file'):
        assert forbidden not in sample_page


def test_page_shows_the_numbers_of_the_json(sample_page: str) -> None:
    report = sample_report_dict()
    for variant in report["variants"]:
        assert f"<td>{format_percent(variant['accuracy'])}</td>" in sample_page
        for op in [*variant["ops"], variant["total"]]:
            for value in op["speedup"].values():
                assert f"<td>{format_ratio(value)}</td>" in sample_page
        for codec in variant["codec"]:
            assert f"<td>{format_bits(codec['bits_per_value'])}</td>" in sample_page
    assert "<td>w 3.50 · a 5</td>" in sample_page  # integer bits of conv2
    assert "<td>w 2 · a 3 · g 5</td>" in sample_page  # mantissa bits of conv1
    assert "<td>sparsity 75.0 %</td>" in sample_page
    assert "<td>2,000,000</td>" in sample_page  # terms of one operation
    assert "<td>12.5 %</td>" in sample_page  # zero-term share of float32 (1/8)


def test_page_has_claims_and_provenance(sample_page: str) -> None:
    assert sample_page.count('<span class="badge">HELD</span>') == 3
    assert "Claim 2: Pruned and quantized training gain more" in sample_page
    assert "1.50× (tile), 1.88× (row), 2.25× (ideal bound)" in sample_page
    assert "<td>thrifty version</td><td>0.0.0</td>" in sample_page
    assert "<td>machine: cpu_count</td><td>2</td>" in sample_page
    assert "&quot;synthetic&quot;: true" in sample_page or '"synthetic": true' in sample_page
    assert "Fashion-MNIST was not available" in sample_page


def _stub_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def test_not_held_claims_and_stored_claims_are_rendered(monkeypatch) -> None:
    # The figures themselves are checked above; here a stub keeps the test fast. The sweep
    # and codec figures stay real: they must decide to draw nothing.
    for name in ("speedup_figure", "energy_figure", "terms_figure", "bits_figure"):
        monkeypatch.setattr(plots, name, lambda report: _stub_png())
    report = scale_speedups(sample_report_dict(), "float32", "tile", 0.5)
    report["variants"] = [v for v in report["variants"] if v["name"] != "float_bits"]
    for variant in report["variants"]:
        variant["codec"], variant["iso_area_sweep"] = [], []
    report["dataset"]["reason"] = '<img src="http://evil">'
    page = render_html_report(judged(report))
    assert '&lt;img src="http://evil"&gt;' in page
    assert "http://evil" not in page.replace('&lt;img src="http://evil"&gt;', "")
    assert page.count('<span class="badge">NOT HELD</span>') == 2
    assert "Not evaluated: the report has no learned per-layer float precision" in page
    assert len(_IMAGE.findall(page)) == 4  # no sweep, no codec figure
    assert 'id="codec"' not in page and 'id="sweep"' not in page

    stored = {
        "number": 1,
        "title": "stored title",
        "criterion": "stored criterion",
        "held": True,
        "numbers": {},
        "sentence": "A <stored> sentence & more.",
    }
    page = render_html_report({**report, "claims": [stored]})
    assert "A &lt;stored&gt; sentence &amp; more." in page
    assert page.count('class="badge"') == 1


def test_invalid_report_writes_nothing(tmp_path) -> None:
    report = sample_report_dict()
    report["variants"][0]["accuracy"] = 2.0
    with pytest.raises(ConfigError, match="variants.0.accuracy"):
        write_html_report(report, tmp_path / "report.html")
    assert list(tmp_path.iterdir()) == []


def test_builder_refuses_raw_numbers_and_escapes_text() -> None:
    with pytest.raises(ThriftyError, match=r"number 1.5 given to the HTML builder"):
        element("td", 1.5)
    with pytest.raises(ThriftyError, match=r"number True given"):
        table(["a"], [[True]])
    assert element("td", "<b>", class_="x") == '<td class="x">&lt;b&gt;</td>'
    assert element("p", None, ["a", ["b"]], title=None) == "<p>ab</p>"


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "—"), (True, "yes"), (12345, "12345"), (0.125, "0.125"), ("x", "x")],
)
def test_format_plain(value, text) -> None:
    assert format_plain(value) == text
    assert format_ratio(float("nan")) == "—" and format_bits(8.0) == "8"


def test_sweep_of_one_policy_is_drawn_and_tabled(monkeypatch) -> None:
    for name in ("speedup_figure", "energy_figure", "terms_figure", "bits_figure"):
        monkeypatch.setattr(plots, name, lambda report: _stub_png())
    report = sample_report_dict()
    for variant in report["variants"]:
        for point in variant["iso_area_sweep"]:
            point["speedup"] = {"tile": point["speedup"]["tile"]}
    assert plots.sweep_policies(load_report(report)) == ["tile"]
    page = render_html_report(report)
    sweep = page[page.index('id="sweep"') : page.index('id="bits"')]
    assert "<th>tile</th>" in sweep and "<th>row</th>" not in sweep
    assert "<td>float32 reference</td><td>1.00×</td><td>0.75×</td>" in sweep
    assert len(_IMAGE.findall(sweep)) == 1


def test_both_baselines_and_windows_are_shown() -> None:
    report = judged(with_baselines(sample_report_dict()))
    page = render_html_report(report)
    without = render_html_report(judged(sample_report_dict()))
    assert "Against both baselines" not in without and "Out-of-bounds window" not in without
    assert "<h2>Against both baselines</h2>" in page and "<h2>Out-of-bounds window</h2>" in page
    for name in ("term_serial+codec vs dot_product", "term_serial vs per_lane_fma",
                 "term_serial+codec vs per_lane_fma+codec"):  # fmt: skip
        assert f"<td>{name}</td>" in page
    assert "<td>synthesis (made up)</td>" in page and "<td>product (19 bits)</td>" in page
    # Energy split of every comparison (µJ): compute / SRAM / DRAM of each side.
    assert "<td>1 / 2 / 4</td>" in page and "<td>3 / 2 / 4</td>" in page
    # Numeric cost per window (mean / max) and the verdicts against each baseline.
    assert "<td>1e-05 / 1e-06</td>" in page and "<td>1e-08 / 1e-06</td>" in page
    assert "Claim 1 (dot_product)" in page and "Claim 1 (per_lane_fma)" in page
    assert format_ratio(1.4) in page  # the product window's speedup over per-lane FMA


def test_integer_inference_section_shows_the_json_numbers(sample_page: str) -> None:
    section = sample_page[sample_page.index('id="inference"') :]
    section = section[: section.index("</section>")]
    # Per inference: term-serial 2 / 4 cycles and 2 / 4 nJ at learned / 8 bits.
    assert "<td>term-serial (Bit-Pragmatic)</td><td>2</td><td>4</td><td>2</td><td>4</td>" in section
    assert "<td>bit-serial (Stripes)</td><td>3</td><td>6</td><td>3</td><td>6</td>" in section
    # Per layer, learned row then 8-bit row: term-serial 100 × bits, bit-serial 150 × bits.
    assert "<td>conv</td><td>learned</td><td>4</td><td>4</td><td>400</td><td>600</td>" in section
    assert "<td></td><td>8-bit</td><td>8</td><td>8</td><td>800</td><td>1,200</td>" in section
    assert "on 4 test images" in section and "100.0 %" in section
