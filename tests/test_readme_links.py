"""The README names and links only files that are in the repository, and the licence pyproject
declares is there."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_file_the_readme_links_or_names_exists():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", t)}
    named = set(re.findall(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b", text))
    missing = sorted(p for p in (linked | named) - {""} if not (ROOT / p).exists())
    assert not missing, f"README.md refers to files not in the repository: {missing}"


def test_the_declared_licence_file_is_there():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "the labeler authors" in text
