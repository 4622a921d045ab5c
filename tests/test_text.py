"""User-visible text stands on its own: no tracker references, and the design notes it cites
are in the repository (docs/design.md), with every relative docs link resolving."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Where users read text: the package (messages, help, docstrings), docs, README, examples,
#: benchmarks and the hardware presets.
USER_TEXT = [
    *REPO.glob("thrifty/**/*.py"),
    *REPO.glob("thrifty/**/*.yaml"),
    *REPO.glob("docs/**/*.md"),
    *REPO.glob("docs/**/*.py"),
    *REPO.glob("examples/**/*.py"),
    *REPO.glob("benchmarks/*.py"),
    REPO / "README.md",
]

FORBIDDEN = re.compile(r"(?i:\bissue \d|\bissue's\b|\bthe issue\b)|DESIGN\.md|DESIGN §")


def test_no_text_points_at_the_tracker_or_at_notes_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in USER_TEXT
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert found == []


def test_the_pattern_catches_what_it_should() -> None:
    for text in ("see issue 3", "the issue's claims", "DESIGN.md §5", "(DESIGN §4)"):
        assert FORBIDDEN.search(text), text
    assert not FORBIDDEN.search("docs/design.md §5 and the tissue 3")


def test_docs_links_resolve() -> None:
    link = re.compile(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)")
    broken = []
    for page in REPO.glob("docs/*.md"):
        for target in link.findall(page.read_text(encoding="utf-8")):
            if not (page.parent / target).exists():
                broken.append(f"{page.name} → {target}")
    assert broken == []
    assert "design.md" in (REPO / "docs" / "index.md").read_text()
