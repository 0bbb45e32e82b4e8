"""`labeler review`: least confident predictions first."""

from __future__ import annotations

from labeler.store import Project


def test_review_lists_least_confident_first(cli, project):
    r = cli("review", project)
    assert r.code == 0 and "no predictions await review" in r.out
    with Project.open(project) as p:
        a, b = p.image_by_path("plain/a.jpg").id, p.image_by_path("plain/b.png").id
        p.write_predictions([(a, {"nose": (1.5, 2.5, 0.9), "tail": (3, 4, 0.2)})], method="dift", model="m")
        p.write_predictions([(b, {"nose": (5, 6, None), "left_eye": (7, 8, 0.5)})], method="dift", model="m")
    r = cli("review", project)
    lines = r.out.splitlines()
    assert r.code == 0 and lines[0].startswith("confidence")
    assert [line.split()[1] for line in lines[1:]] == ["nose", "tail", "left_eye", "nose"]
    assert lines[1].split()[0] == "-" and "plain/b.png" in lines[1]
    assert lines[2].split()[:3] == ["0.200", "tail", "3.0,4.0"] and lines[2].endswith("plain/a.jpg")
    r = cli("review", project, "--limit", "2")
    assert len(r.out.splitlines()) == 3
    r = cli("review", project, "--by-image")
    lines = r.out.splitlines()
    assert [line.split()[-1] for line in lines[1:]] == ["plain/b.png", "plain/a.jpg"]
    r = cli("review", project, "--limit", "-1")
    assert r.code == 2 and "--limit" in r.err
