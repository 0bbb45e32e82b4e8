"""`labeler schema`: the schema after init, with the app's checks, all changes or none."""

from __future__ import annotations

import random

import pytest

from labeler.store import Project


def _schema(path):
    with Project.open(path) as p:
        return p.schema()


def test_schema_shows_and_edits_keeping_points(cli, project):
    r = cli("schema", project)
    assert r.code == 0 and "keypoints (4):" in r.out and "flip pairs: left_eye:right_eye" in r.out
    cli("label", project, "plain/a.jpg", "nose=1,2", "tail=3,4", "left_eye=5,5")
    r = cli("schema", project, "--rename", "tail=tail_base", "--add", "beak,crest", "--edge", "beak-nose",
            "--flip", "beak:crest", "--remove-edge", "nose-left_eye")
    assert r.code == 0, r.err
    s = _schema(project)
    assert s.keypoints == ("nose", "left_eye", "right_eye", "tail_base", "beak", "crest")
    assert s.skeleton == (("nose", "right_eye"), ("beak", "nose"))
    assert set(s.flip_pairs) == {("left_eye", "right_eye"), ("beak", "crest")}
    with Project.open(project) as p:
        pts = p.points(p.image_by_path("plain/a.jpg").id)
        assert (pts["tail_base"].x, pts["tail_base"].y) == (3, 4)
    # a swap through renames, and a reorder
    assert cli("schema", project, "--rename", "left_eye=right_eye", "--rename", "right_eye=left_eye").code == 0
    with Project.open(project) as p:
        assert p.points(p.image_by_path("plain/a.jpg").id)["right_eye"].x == 5
    r = cli("schema", project, "--order", "beak,crest,nose,left_eye,right_eye,tail_base")
    assert r.code == 0 and _schema(project).keypoints[:2] == ("beak", "crest")
    # removing a keypoint with points needs --delete-points; its edges and pair go with it
    r = cli("schema", project, "--remove", "nose")
    assert r.code == 2 and "nose (1 points)" in r.err and "add --delete-points to confirm" in r.err  # the CLI's way
    r = cli("schema", project, "--remove", "nose", "--delete-points")
    assert r.code == 0 and "nose" not in _schema(project).keypoints
    assert all("nose" not in e for e in _schema(project).skeleton)


@pytest.mark.parametrize("argv, message", [
    (["--add", "nose"], "keypoint 'nose' already exists"),
    (["--add", "a,,b"], "empty item"),
    (["--add", "x:y"], "must not contain :"),
    (["--add", "bad=name"], "must not contain ="),
    (["--rename", "nose"], "expected OLD=NEW"),
    (["--rename", "beak=bill"], "unknown keypoint 'beak'"),
    (["--rename", "nose=tail"], "'tail' already exists"),
    (["--remove", "beak"], "unknown keypoint 'beak'"),
    (["--delete-points"], "--delete-points goes with --remove"),
    (["--order", "nose,tail"], "every keypoint exactly once"),
    (["--edge", "nose-left_eye"], "already listed"),
    (["--edge", "nose-nose"], "cannot pair with itself"),
    (["--edge", "nose-beak"], "must join two keypoints"),
    (["--flip", "nose:left_eye"], "left_eye is already in the pair"),
    (["--flip", "nose:beak"], "unknown keypoint 'beak'"),
    (["--flip", "nose"], "must be LEFT:RIGHT"),
    (["--remove-edge", "tail-nose"], "there is no edge tail-nose"),
    (["--remove-flip", "nose:tail"], "there is no flip pair nose:tail"),
])
def test_schema_refusals_are_one_line_and_change_nothing(cli, project, argv, message):
    before = _schema(project)
    r = cli("schema", project, "--add", "extra", *argv)  # a valid change alongside: not saved either
    assert r.code == 2 and message in r.err and r.err.startswith("error:") and r.err.count("\n") == 1, r.err
    assert _schema(project) == before


def test_generated_edits_agree_with_the_store_and_keep_points(cli, project):
    """Random sequences of schema commands: every accepted one leaves a valid schema whose
    renamed keypoints kept their points; every refused one changes nothing."""
    rng = random.Random(5)
    cli("label", project, "plain/a.jpg", "nose=1,1", "left_eye=2,2", "right_eye=3,3", "tail=4,4")
    fresh = iter(f"k{i}" for i in range(1000))
    for _ in range(15):
        s = _schema(project)
        names = list(s.keypoints)
        pick = lambda: rng.choice(names + ["ghost"])  # noqa: E731
        op = rng.choice(["add", "rename", "remove", "edge", "flip", "remove-edge", "remove-flip", "order"])
        argv = {
            "add": ["--add", next(fresh)],
            "rename": ["--rename", f"{pick()}={rng.choice([next(fresh), pick()])}"],
            "remove": ["--remove", pick(), *(["--delete-points"] if rng.random() < 0.5 else [])],
            "edge": ["--edge", f"{pick()}-{pick()}"],
            "flip": ["--flip", f"{pick()}:{pick()}"],
            "remove-edge": ["--remove-edge", f"{pick()}-{pick()}"],
            "remove-flip": ["--remove-flip", f"{pick()}:{pick()}"],
            "order": ["--order", ",".join(rng.sample(names, len(names)))] if names else ["--add", next(fresh)],
        }[op]
        with Project.open(project) as p:
            before_points = {n: c for n, c in p.point_counts().items()}
        r = cli("schema", project, *argv)
        after = _schema(project)
        assert r.code in (0, 2) and "Traceback" not in r.err, (argv, r.err)
        if r.code == 2:
            assert after == s, argv
            continue
        with Project.open(project) as p:
            counts = p.point_counts()
        if op == "rename":
            old, new = argv[1].split("=")
            assert counts[new] == before_points[old]
        elif op != "remove":
            assert sum(counts.values()) == sum(before_points.values())
        assert len(set(after.keypoints)) == len(after.keypoints)
        assert all(a in after.keypoints and b in after.keypoints for a, b in after.skeleton + after.flip_pairs)
        used = [n for pair in after.flip_pairs for n in pair]
        assert len(used) == len(set(used))


@pytest.mark.parametrize("char", ["\x1b", "\x00", "\u202e", "\u200b", "\x7f", "\n"])
def test_names_with_control_or_formatting_characters_are_refused(cli, project, char):
    r = cli("schema", project, "--add", f"be{char}ak")
    assert r.code == 2 and "control or formatting" in r.err and char not in r.err.rstrip("\n")
