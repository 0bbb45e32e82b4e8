"""The README's headless walkthrough runs as written (with the classical method instead of a
model download), every step exiting 0."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from labeler.store import Project
from labeler.store.testing import write_image

README = Path(__file__).resolve().parents[2] / "README.md"


def _walkthrough() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The command line"):]
    block = section[section.index("```bash") + len("```bash"):]
    block = block[: block.index("```")].replace("\\\n", " ")
    steps = []
    for line in block.splitlines():
        line = re.sub(r"\s#.*$", "", line).strip()
        if line.startswith("labeler "):
            line = re.sub(r"\[[^\]]*\]", "", line)  # optional parts
            steps.append(shlex.split(line)[1:])
    return steps


def test_the_readme_walkthrough_runs(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for i in range(1, 5):
        write_image(tmp_path / "photos" / "nest" / f"00{i}.jpg", "rgb", (160, 120), seed=i)
    steps = _walkthrough()
    assert [s[0] for s in steps][:4] == ["init", "schema", "schema", "schema"] and len(steps) >= 14
    for argv in steps:
        if argv[0] == "propagate":
            argv = ["propagate", "birds.labeler", "--method", "classical", "--device", "cpu"]
        r = cli(*argv)
        assert r.code == 0, (argv, r.err)
    with Project.open(tmp_path / "birds.labeler") as p:
        assert "tail_base" in p.schema().keypoints and "crest" in p.schema().keypoints
        assert p.image(p.image_by_path("nest/003.jpg").id).flag == "no_object"
        assert p.counts().points_by_status["accepted"] > 0
    assert (tmp_path / "birds.json").is_file()
