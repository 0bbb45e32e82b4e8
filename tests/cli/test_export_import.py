"""`labeler export` and `labeler import`."""

from __future__ import annotations

import json

from pycocotools.coco import COCO

from labeler.store import Project


def test_export_import_round_trip(cli, project, images, tmp_path):
    cli("label", project, "plain/a.jpg", "nose=10,20", "left_eye=1,2,occluded", "right_eye=absent")
    with Project.open(project) as p:
        b = p.image_by_path("plain/b.png").id
        p.write_predictions([(b, {"nose": (3, 4, 0.25)})], method="dift", model="m")
    out = tmp_path / "labels.json"
    r = cli("export", project, "--coco", out)
    assert r.code == 0 and "1 image, 2 points with a position, 1 absent" in r.out
    coco = COCO(str(out))
    assert len(coco.getAnnIds()) == 1
    r = cli("export", project, "--coco", out, "--predicted", "--category", "bird")
    assert r.code == 0 and "1 predicted" in r.out
    data = json.loads(out.read_text())
    assert data["categories"][0]["name"] == "bird"
    assert all("keypoint_scores" in a for a in data["annotations"])

    fresh = tmp_path / "fresh.labeler"
    assert cli("init", fresh, "--images", images.root).code == 1  # no keypoints: the import brings them (3 unreadable files listed)
    r = cli("import", fresh, "--coco", out)
    assert r.code == 0, r.err
    assert "schema was taken from the file" in r.out
    again = tmp_path / "again.json"
    assert cli("export", fresh, "--coco", again, "--predicted", "--category", "bird").code == 0
    assert again.read_bytes() == out.read_bytes()


def test_import_conflicts_need_a_choice(cli, project, tmp_path):
    cli("label", project, "plain/a.jpg", "nose=10,20")
    out = tmp_path / "l.json"
    cli("export", project, "--coco", out)
    cli("label", project, "plain/a.jpg", "nose=11,20")
    r = cli("import", project, "--coco", out)
    assert r.code == 2 and "--on-conflict keep" in r.err and "plain/a.jpg nose" in r.err
    r = cli("import", project, "--coco", out, "--on-conflict", "replace")
    assert r.code == 0 and "the project's were replaced" in r.out
    with Project.open(project) as p:
        assert p.points(p.image_by_path("plain/a.jpg").id)["nose"].x == 10


def test_import_reports_images_it_could_not_find(cli, project, tmp_path):
    cli("label", project, "plain/a.jpg", "nose=10,20")
    out = tmp_path / "l.json"
    cli("export", project, "--coco", out)
    data = json.loads(out.read_text())
    data["images"][0]["file_name"] = "gone/away.jpg"
    out.write_text(json.dumps(data))
    r = cli("import", project, "--coco", out)
    assert r.code == 1  # done, but some images failed (listed), as for propagate
    assert "1 point of 1 image NOT imported" in r.err and "gone/away.jpg" in r.err


def test_import_bad_files(cli, project, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = cli("import", project, "--coco", bad)
    assert r.code == 2 and "not valid JSON" in r.err
    cli("label", project, "plain/a.jpg", "nose=10,20")
    out = tmp_path / "l.json"
    cli("export", project, "--coco", out)
    data = json.loads(out.read_text())
    data["images"][0]["file_name"] = "../../etc/passwd"
    out.write_text(json.dumps(data))
    r = cli("import", project, "--coco", out)
    assert r.code == 2 and "outside the images root" in r.err
    data["images"][0]["file_name"] = "plain/a.jpg"
    data["categories"][0]["keypoints"][0] = "beak"
    out.write_text(json.dumps(data))
    r = cli("import", project, "--coco", out)
    assert r.code == 2 and "do not match the project's" in r.err
    assert cli("import", project, "--coco", tmp_path / "missing.json").code == 2
    r = cli("export", project, "--coco", tmp_path / "no such dir" / "x.json")
    assert r.code == 2 and "does not exist" in r.err


def test_import_of_unannotated_images_that_are_not_here_is_not_a_failure(cli, project, tmp_path):
    """A COCO file lists the whole dataset; images with no annotation that are not on this
    machine lose nothing: a note, exit 0. Only lost points make the exit status 1."""
    cli("label", project, "plain/a.jpg", "nose=10,20")
    out = tmp_path / "l.json"
    cli("export", project, "--coco", out)
    data = json.loads(out.read_text())
    data["images"].append({"id": 99, "file_name": "not/here.jpg", "width": 5, "height": 5})
    out.write_text(json.dumps(data))
    r = cli("import", project, "--coco", out)
    assert r.code == 0, r.err
    assert "NOT imported" not in r.err
    assert "1 image(s) named by the file without annotations are not here" in r.out


def test_coco_round_trip_into_a_fresh_project_is_byte_identical(cli, project, images, tmp_path):
    """Flags (no object, later) and the category name survive export -> import into a project of
    another name -> export; a skipped image is not exported, so not imported either."""
    cli("label", project, "plain/a.jpg", "nose=10.123456789,20", "left_eye=1,2,occluded", "right_eye=absent")
    cli("label", project, "plain/b.png", "nose=3,4")
    cli("label", project, "formats/gray.png", "tail=5,5")
    with Project.open(project) as p:
        c = p.image_by_path("formats/rgba.png").id
        p.write_predictions([(c, {"nose": (3, 4, 0.25)})], method="dift", model="m")
    assert cli("flag", project, "plain/b.png", "--no-object").code == 0  # has a point: a negative all the same
    assert cli("flag", project, "formats/gray.png", "--later").code == 0
    cli("label", project, "exif/rot6.jpg", "nose=5,5")
    assert cli("flag", project, "exif/rot6.jpg", "--skip").code == 0
    for extra in ([], ["--predicted"]):
        out = tmp_path / f"labels{len(extra)}.json"
        assert cli("export", project, "--coco", out, *extra).code == 0
        data = json.loads(out.read_text())
        assert data["categories"][0]["name"] == "birds"  # the project's name, by default
        flags = {im["file_name"]: im.get("labeler_flag") for im in data["images"]}
        assert flags["plain/b.png"] == "no_object" and flags["formats/gray.png"] == "later"
        assert "exif/rot6.jpg" not in flags
        fresh = tmp_path / f"other name {len(extra)}.labeler"
        assert cli("init", fresh, "--images", images.root).code == 1
        r = cli("import", fresh, "--coco", out)
        assert r.code == 0 and "2 image flags (no object, later) taken from the file" in r.out, r.out + r.err
        again = tmp_path / f"again{len(extra)}.json"
        assert cli("export", fresh, "--coco", again, *extra).code == 0
        assert again.read_bytes() == out.read_bytes()
        # and pycocotools reads the negative as an image without annotations
        coco = COCO(str(again))
        b = next(i for i, im in coco.imgs.items() if im["file_name"] == "plain/b.png")
        assert coco.getAnnIds(imgIds=[b]) == []


def test_coco_import_refuses_an_unknown_flag(cli, project, tmp_path):
    cli("label", project, "plain/a.jpg", "nose=10,20")
    out = tmp_path / "labels.json"
    cli("export", project, "--coco", out)
    data = json.loads(out.read_text())
    data["images"][0]["labeler_flag"] = "maybe"
    out.write_text(json.dumps(data))
    r = cli("import", project, "--coco", out)
    assert r.code == 2 and "labeler_flag must be one of skip, no_object, later" in r.err and "Traceback" not in r.err
