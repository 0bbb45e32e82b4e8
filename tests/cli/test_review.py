"""`labeler review`: least confident predictions first."""

from __future__ import annotations

import pytest

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


def _predict(project_path):
    with Project.open(project_path) as p:
        a, b, c = (p.image_by_path(x).id for x in ("plain/a.jpg", "plain/b.png", "formats/gray.png"))
        p.write_predictions([(a, {"nose": (1, 2, 0.9), "tail": (3, 4, 0.2)}), (c, {"nose": (1, 1, 0.95)})],
                            method="dift", model="sd-2-1")
        p.write_predictions([(b, {"nose": (5, 6, 0.99), "left_eye": (7, 8, 0.85)})], method="dift", model="tiny-random")
        p.set_point(a, "left_eye", 2, 2)
        return a, b, c


def _statuses(project_path, image_id):
    with Project.open(project_path) as p:
        return {n: r.status for n, r in p.points(image_id).items()}


def test_review_accepts_and_rejects_in_bulk_per_image_and_per_point(cli, project):
    a, b, c = _predict(project)
    assert cli("flag", project, "formats/gray.png", "--skip").code == 0
    r = cli("review", project)
    assert "formats/gray.png" not in r.out  # flagged: out of review
    assert "[TEST MODEL]" in r.out and "tiny-random" in r.err and r.err.count("\n") == 1
    assert "1 of the predictions are on flagged images" in cli("status", project).out
    r = cli("review", project, "--accept-above", "0.8")
    assert r.code == 0 and "accepted 1 prediction with confidence >= 0.8" in r.out, r.out
    assert "tiny-random" in r.err and "--include-test-models" in r.err
    assert _statuses(project, a) == {"nose": "accepted", "left_eye": "manual", "tail": "predicted"}
    assert _statuses(project, c) == {"nose": "predicted"}  # skipped image untouched
    assert set(_statuses(project, b).values()) == {"predicted"}  # test model left alone
    r = cli("review", project, "--accept-above", "0.8", "--include-test-models")
    assert "accepted 2 predictions" in r.out and _statuses(project, b) == {"nose": "accepted", "left_eye": "accepted"}
    r = cli("review", project, "--reject", "--image", "plain/a.jpg", "--keypoint", "tail", "--absent")
    assert r.code == 0 and "rejected 1 prediction on 1 image (now absent)" in r.out and "0 predictions left" in r.out
    with Project.open(project) as p:
        tail = p.points(a)["tail"]
        assert (tail.visibility, tail.status, tail.pred_x) == (0, "corrected", 3)
    r = cli("review", project, "--accept", "--image", "formats/gray.png")
    assert r.code == 2 and "formats/gray.png is flagged skipped" in r.err and "--clear" in r.err and "Traceback" not in r.err
    assert cli("flag", project, "formats/gray.png", "--clear").code == 0
    r = cli("review", project, "--reject-below", "1")
    assert "rejected 1 prediction with confidence < 1" in r.out and _statuses(project, c) == {}


@pytest.mark.parametrize("argv, message", [
    (["--accept"], "--accept needs --image"),
    (["--reject", "--keypoint", "nose"], "--reject needs --image"),
    (["--accept-above", "1.5"], "between 0 and 1"),
    (["--accept-above", "nan"], "not a usable number"),
    (["--reject-below", "-0.1"], "between 0 and 1"),
    (["--image", "plain/a.jpg"], "--image goes with"),
    (["--accept-above", "0.5", "--absent"], "--absent goes with"),
    (["--reject-below", "0.5", "--include-test-models"], "--include-test-models goes with"),
    (["--accept", "--image", "nope.jpg"], "no image 'nope.jpg'"),
    (["--accept", "--image", "plain/a.jpg", "--keypoint", "beak"], "unknown keypoint 'beak'"),
])
def test_review_refuses_bad_decisions_with_one_line(cli, project, argv, message):
    _predict(project)
    r = cli("review", project, *argv)
    assert r.code == 2 and message in r.err and r.err.startswith("error:") and r.err.count("\n") == 1, r.err
    with Project.open(project) as p:
        assert p.counts().points_by_status["predicted"] == 5  # nothing decided


def test_flag_sets_clears_and_status_counts_flags(cli, project):
    r = cli("flag", project, "plain/a.jpg", "plain/b.png", "--no-object")
    assert r.code == 0 and r.out.startswith("flagged no object: 2 images")
    r = cli("flag", project, "plain/a.jpg", "--later")
    assert "flagged for later: 1 image\n" in r.out and "(was no object)" in r.out
    r = cli("status", project)
    assert "flagged: skipped 0, no object 1, for later 1" in r.out, r.out
    r = cli("flag", project, "plain/a.jpg", "nope.jpg", "--skip")
    assert r.code == 2 and "nope.jpg" in r.err
    with Project.open(project) as p:
        assert p.image(p.image_by_path("plain/a.jpg").id).flag == "later"  # nothing written
    r = cli("flag", project, "plain/a.jpg")
    assert r.code == 2 and "one of the arguments --skip --no-object --later --clear is required" in r.err
    assert cli("flag", project, "plain/a.jpg", "plain/b.png", "--clear").code == 0
    assert "flagged: skipped 0, no object 0, for later 0" in cli("status", project).out


@pytest.mark.parametrize("text", ["-0", "-0.0", "-0e5", "0", "0.25", "1", "1e-3"])
def test_a_threshold_is_said_as_a_confidence_never_minus_zero(text):
    """`--accept-above -0` accepted everything and said "confidence >= -0"; the threshold is
    a confidence in [0, 1], said as one."""
    from labeler.cli.cmd_review import _threshold

    value = _threshold(float(text), "--accept-above")
    assert value == float(text) and f"{value:g}" == f"{abs(float(text)):g}" and not f"{value:g}".startswith("-")


def test_flag_says_which_images_it_did_not_change(cli, project):
    """`flag --clear` on an image without a flag said "cleared the flag of 1 image"; each line
    now says what happened to that image."""
    assert cli("flag", project, "plain/a.jpg", "--later").code == 0
    r = cli("flag", project, "plain/a.jpg", "plain/b.png", "--later")
    assert r.code == 0 and "plain/a.jpg (already)" in r.out and "plain/b.png\n" in r.out
    r = cli("flag", project, "plain/a.jpg", "plain/b.png", "--skip")
    assert "plain/a.jpg (was for later)" in r.out and "plain/b.png (was for later)" in r.out
    r = cli("flag", project, "plain/a.jpg", "formats/gray.png", "--clear")
    assert "plain/a.jpg (was skipped)" in r.out and "formats/gray.png (had no flag)" in r.out
