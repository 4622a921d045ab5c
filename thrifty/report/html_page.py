"""A tiny, escaping HTML builder and the report's style sheet.

`element("td", text)` escapes every plain string it is given and refuses numbers, so a value
reaches the page only through `thrifty.report.number_format` — never by concatenating
numbers into markup. `Markup` marks text that is already HTML.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable

from thrifty.errors import ThriftyError


class Markup(str):
    """A string that is already valid, escaped HTML."""


Child = str | Markup | None | Iterable["Child"]


def _render(child: Child) -> str:
    if child is None:
        return ""
    if isinstance(child, Markup):
        return str(child)
    if isinstance(child, str):
        return html.escape(child, quote=False)
    if isinstance(child, (int, float)):
        raise ThriftyError(
            f"number {child!r} given to the HTML builder; format it with "
            "thrifty.report.number_format first"
        )
    return "".join(_render(c) for c in child)


def element(tag: str, *children: Child, **attributes: str | None) -> Markup:
    """`<tag attr="…">children</tag>`; attribute `class_` becomes `class`, None drops it."""
    attrs = "".join(
        f' {name.rstrip("_").replace("_", "-")}="{html.escape(value, quote=True)}"'
        for name, value in attributes.items()
        if value is not None
    )
    return Markup(f"<{tag}{attrs}>{_render(children)}</{tag}>")


def png_image(png: bytes, alt: str) -> Markup:
    """An `<img>` whose PNG is embedded as base64 data: the page needs no other file."""
    source = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return Markup(f'<img src="{source}" alt="{html.escape(alt, quote=True)}">')


def table(
    header: list[str],
    rows: Iterable[list[Child]],
    caption: str | None = None,
    numeric: bool = True,
) -> Markup:
    """A table with a header row; cells are escaped strings or Markup.

    `numeric` right-aligns every column but the first (numbers line up); a table of text
    (provenance) is left-aligned.
    """
    head = element("thead", element("tr", [element("th", h) for h in header]))
    body = element("tbody", [element("tr", [element("td", cell) for cell in row]) for row in rows])
    return element(
        "table",
        element("caption", caption) if caption else None,
        head,
        body,
        class_=None if numeric else "text",
    )


CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""The page loads nothing from anywhere: images are inline data, style is inline, no script."""

STYLE_SHEET = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #f6f8fa;
        --held: #1a7f37; --held-bg: #dafbe1; --not: #cf222e; --not-bg: #ffebe9; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: white; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 64px; }
header { border-bottom: 1px solid var(--line); margin-bottom: 8px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 36px 0 8px; padding-bottom: 4px;
     border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 6px; }
p.lead { color: var(--muted); margin: 0 0 16px; }
p.note { color: var(--muted); font-size: 13px; }
figure { margin: 12px 0 20px; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px;
        font-variant-numeric: tabular-nums; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: var(--bg); font-weight: 600; }
table.text th, table.text td { text-align: left; }
details { margin: 8px 0 16px; }
summary { cursor: pointer; color: var(--muted); }
pre { background: var(--bg); padding: 12px; overflow-x: auto; font-size: 12px; }
.facts { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; margin: 12px 0; }
.fact { background: var(--bg); border-radius: 6px; padding: 8px 12px; }
.fact .label { color: var(--muted); font-size: 12px; display: block; }
.fact .value { font-size: 17px; font-weight: 600; }
.claim { border: 1px solid var(--line); border-left-width: 6px; border-radius: 6px;
         padding: 10px 16px; margin: 12px 0; }
.claim.held { border-left-color: var(--held); }
.claim.not-held { border-left-color: var(--not); }
.claim h3 { margin: 4px 0; }
.badge { display: inline-block; font-size: 12px; font-weight: 700; padding: 1px 8px;
         border-radius: 10px; margin-right: 8px; vertical-align: middle; }
.held .badge { color: var(--held); background: var(--held-bg); }
.not-held .badge { color: var(--not); background: var(--not-bg); }
.criterion { color: var(--muted); font-size: 13px; }
"""
"""The whole style of the page (inline, so the file stands alone)."""


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "STYLE_SHEET",
    "Markup",
    "element",
    "png_image",
    "table",
]
