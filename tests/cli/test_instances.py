"""CLI: several objects per image. `instances` adds, boxes, names, accepts and deletes them;
`propagate --boxes detect --prompt` stores a text-prompted detector's boxes as detected (listed
by `instances` and `status`) and stops; `propagate` then predicts into every box."""

from __future__ import annotations

import pytest

from labeler.store import Project


def test_boxes_by_hand_then_propagate_into_each(cli, project):
    assert cli("label", project, "plain/a.jpg", "nose=20,18", "left_eye=15,14", "right_eye=25,14").code == 0
    r = cli("instances", project, "plain/a.jpg", "--add", "10,8,30,24", "--name", "bird 1")
    assert r.code == 0 and "added instance" in r.out
    with Project.open(project) as p:
        a = p.image_by_path("plain/a.jpg").id
        first, added = p.instances(a)
    assert cli("instances", project, "--delete", added.id).code == 0
    assert cli("instances", project, "--set-box", first.id, "10,8,30,24").code == 0
    assert cli("instances", project, "plain/b.png", "--add", "12,10,30,24").code == 0
    assert cli("instances", project, "plain/b.png", "--add", "1,1,12,10").code == 0
    r = cli("propagate", project, "--method", "classical", "--images", "plain/*", "--no-flip", "--quiet")
    assert r.code == 0, r.err
    with Project.open(project) as p:
        b = p.image_by_path("plain/b.png").id
        big, small = p.instances(b)
        for inst in (big, small):
            pts = p.points(b, inst.id)
            assert set(pts) == {"nose", "left_eye", "right_eye"}
            x, y, w, h = inst.box
            m = max(0.15 * max(w, h), 4)
            assert all(x - m - 1 <= q.x <= x + w + m + 1 and y - m - 1 <= q.y <= y + h + m + 1 for q in pts.values())
    r = cli("instances", project, "plain/b.png")
    assert r.code == 0 and "2 instance(s), 2 with a box, 0 detected" in r.out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--add", "1,2,3"], "a box is x,y,w,h"),
        (["--add", "1,2,inf,3"], "finite numbers"),
        (["--add", "500,500,3,3"], "outside the"),
        (["--delete", "12345"], "no instance with id 12345"),
        (["--set-box", "x", "1,1,2,2"], "whole number"),
        (["--rename", "1", "\x1b[31m"], "printable"),
    ],
)
def test_bad_instance_input_is_one_error_line_and_changes_nothing(cli, project, argv, message):
    assert cli("instances", project, "plain/a.jpg", "--add", "1,1,5,5").code == 0
    r = cli("instances", project, "plain/a.jpg", *argv)
    assert r.code == 2 and r.err.count("error:") == 1 and message in r.err and "Traceback" not in r.err
    assert cli("instances", project).out.startswith("1 instance(s), 1 with a box")


def test_detect_proposes_boxes_for_review_and_propagate_fills_them(cli, project):
    assert cli("label", project, "plain/a.jpg", "nose=20,18", "tail=40,30").code == 0
    r = cli("propagate", project, "--boxes", "detect", "--prompt", "a bird", "--detector", "tiny-random",
            "--box-threshold", "0", "--max-boxes", "2", "--images", "plain/b.png")
    assert r.code == 0, r.err
    assert "box(es) of a bird on 1 of 1 image(s)" in r.out
    with Project.open(project) as p:
        b = p.image_by_path("plain/b.png").id
        proposed = p.instances(b)
        assert 1 <= len(proposed) <= 2 and all(i.box_source == "detected" for i in proposed)
        assert p.points(b) == {}  # keypoints wait for a person to look at the boxes
    assert "detected boxes awaiting a person" in cli("status", project).out
    keep = proposed[0].id
    assert cli("instances", project, "--accept", keep).code == 0
    r = cli("propagate", project, "--method", "classical", "--images", "plain/b.png", "--no-flip", "--quiet")
    assert r.code == 0, r.err
    with Project.open(project) as p:
        assert p.instance(keep).box_source == "drawn"
        assert set(p.points(b, keep)) == {"nose", "tail"}
    assert "deleted" in cli("instances", project, "--delete-detected").out
    for argv, message in ((["--boxes", "detect"], "needs --prompt"), (["--prompt", "x"], "use it with --boxes detect"),
                          (["--boxes", "detect", "--prompt", "x", "--box-threshold", "2"], "between 0 and 1")):
        r = cli("propagate", project, *argv)
        assert r.code == 2 and message in r.err


@pytest.mark.parametrize("box", ["2,3,10,8", "-5,4,12,6", "30,20,400,300"])
def test_add_says_the_box_it_stored_and_whether_it_was_clipped(cli, project, box):
    """A box reaching past the image is clipped to it; --add says the box it stored (as --set-box
    does), and that it was clipped, so the person never works with a box they did not draw."""
    r = cli("instances", project, "plain/a.jpg", f"--add={box}")  # = : argparse reads -5 as an option
    assert r.code == 0, r.err
    with Project.open(project) as p:
        (made,) = [i for i in p.instances(p.image_by_path("plain/a.jpg").id) if i.box is not None]
    x, y, w, h = made.box
    assert f"box {x:g},{y:g},{w:g},{h:g}" in r.out
    given = tuple(float(v) for v in box.split(","))
    assert ("clipped to the image" in r.out) == (given != made.box)
