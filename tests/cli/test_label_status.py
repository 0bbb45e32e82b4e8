"""`labeler label` and `labeler status`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labeler.store import Project

UNICODE = "Ünïcødé folder with spaces/猫 the cat.jpg"


def _points(project, rel):
    with Project.open(project) as p:
        return p.points(p.image_by_path(rel).id)


def test_label_sets_confirmed_points(cli, project):
    r = cli("label", project, "plain/a.jpg", "nose=10.5,20", "left_eye=1,2,occluded", "right_eye=absent", "tail=64,48")
    assert r.code == 0, r.err
    assert "nose: 10.5,20 [manual]" in r.out and "right_eye: absent" in r.out and "reviewed" in r.out
    pts = _points(project, "plain/a.jpg")
    assert (pts["nose"].x, pts["nose"].y, pts["nose"].visibility) == (10.5, 20, 2)
    assert pts["left_eye"].visibility == 1 and pts["right_eye"].visibility == 0
    r = cli("label", project, "plain/a.jpg", "nose=occluded")
    assert r.code == 0 and _points(project, "plain/a.jpg")["nose"].visibility == 1


def test_label_unicode_and_rotated_images(cli, project):
    assert cli("label", project, UNICODE, "nose=47.5,35.5").code == 0
    assert _points(project, UNICODE)["nose"].x == 47.5
    assert cli("label", project, "exif/rot6.jpg", "tail=39,59").code == 0  # displayed 40 x 60
    r = cli("label", project, "exif/rot6.jpg", "tail=59,39")
    assert r.code == 2 and "outside the image" in r.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plain/a.jpg", "nose=1,2", "tail=65,1"], "outside the image (x must be within 0..64"),
        (["plain/a.jpg", "nose=1,2", "ear=1,1"], "unknown keypoint 'ear'; the schema has: nose, left_eye, right_eye, tail"),
        (["plain/a.jpg", "nose=1,2", "tail=occluded"], "no position yet"),
        (["plain/a.jpg", "nose=1"], "expected name=x,y"),
        (["plain/a.jpg", "nose"], "expected name=x,y"),
        (["plain/a.jpg", "nose=a,b"], "must be numbers"),
        (["plain/a.jpg", "nose=1,2", "nose=3,4"], "given twice"),
        (["plain/a.jpg", "nose=-1,2"], "outside the image"),
        (["a.jpg", "nose=1,2"], "did you mean plain/a.jpg"),
        (["../my images ü/plain/a.jpg", "nose=1,2"], "no image"),
    ],
)
def test_label_bad_input_writes_nothing(cli, project, args, message):
    r = cli("label", project, *args)
    assert r.code == 2
    assert message in r.err
    with Project.open(project) as p:
        assert p.counts().points == 0


def test_status_counts(cli, project, images):
    cli("label", project, "plain/a.jpg", "nose=1,2", "tail=absent")
    with Project.open(project) as p:
        b = p.image_by_path("plain/b.png").id
        p.write_predictions([(b, {"nose": (1, 1, 0.5)})], method="dift", model="m")
    r = cli("status", project)
    assert r.code == 0
    n = len(images.good)
    assert f"images: {n} (unlabeled {n - 2}, partial 1, predicted 1, reviewed 0; flagged: skipped 0, no object 0, for later 0; missing files 0)" in r.out
    assert "points: 3 (manual 2, predicted 1, accepted 0, corrected 0; visible 2, occluded 0, absent 1)" in r.out
    assert "keypoints (4): nose, left_eye, right_eye, tail" in r.out
    assert "flip pairs: left_eye:right_eye" in r.out


def test_label_visible_again_and_unlabel(cli, project):
    """The CLI can undo its own edits: name=visible un-occludes a point where it is, and
    name=unlabeled takes a point back to 'not labelled' (a typo'd absent, a wrong image)."""
    assert cli("label", project, "plain/a.jpg", "nose=1,2,occluded", "tail=absent").code == 0
    r = cli("label", project, "plain/a.jpg", "nose=visible", "tail=unlabeled")
    assert r.code == 0, r.err
    assert "nose: 1,2 [manual]" in r.out and "tail: not labelled" in r.out
    pts = _points(project, "plain/a.jpg")
    assert pts["nose"].visibility == 2 and "tail" not in pts
    r = cli("label", project, "plain/a.jpg", "left_eye=visible")
    assert r.code == 2 and "no position yet" in r.err
    assert cli("label", project, "plain/a.jpg", "left_eye=unlabeled").code == 0  # nothing there: fine


def test_status_only_reads(cli, project, images):
    """status lists files gone from disk without writing to the project (it may be read-only)."""
    import os

    (images.root / "plain/b.png").unlink()
    before = os.stat(project).st_mtime_ns, Path(f"{project}-wal").exists() and os.stat(f"{project}-wal").st_size
    r = cli("status", project)
    assert "missing files 1" in r.out and "plain/b.png" in r.out
    assert (os.stat(project).st_mtime_ns, Path(f"{project}-wal").exists() and os.stat(f"{project}-wal").st_size) == before


def test_label_takes_every_spelling_of_not_labelled(cli, project):
    for spelling in ("unlabeled", "unlabelled", "not labelled", "Not-Labeled", "not_labelled"):
        assert cli("label", project, "plain/a.jpg", "nose=1,2").code == 0
        r = cli("label", project, "plain/a.jpg", f"nose={spelling}")
        assert r.code == 0 and "nose: not labelled" in r.out, (spelling, r.err)


def test_label_without_keypoints_says_how_to_add_them(cli, images, tmp_path):
    bare = tmp_path / "bare.labeler"
    cli("init", bare, "--images", images.root)
    r = cli("label", bare, "plain/a.jpg", "nose=1,2")
    assert r.code == 2 and "labeler schema PROJECT --add" in r.err and r.err.count("\n") == 1
    assert cli("schema", bare, "--add", "nose").code == 0
    assert cli("label", bare, "plain/a.jpg", "nose=1,2").code == 0


def test_counts_are_never_1_images(cli, project, tmp_path):
    cli("label", project, "plain/a.jpg", "nose=1,2")
    outs = [cli("export", project, "--coco", tmp_path / "c.json"),
            cli("export", project, "--yolo", tmp_path / "y"),
            cli("export", project, "--dlc", tmp_path / "d"),
            cli("import", project, "--coco", tmp_path / "c.json")]
    text = "".join(r.out + r.err for r in outs)
    assert "1 image," in text and "1 image " in text
    assert not re.search(r"\b1 (images|points|instances|pairs|predictions|background images)\b", text), text
