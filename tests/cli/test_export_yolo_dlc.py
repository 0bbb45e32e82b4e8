"""`labeler export --yolo/--dlc` and `labeler import --yolo/--dlc`: what is printed, exit codes,
and bad input as one `error:` line."""

from __future__ import annotations

from labeler.store import Project


def _label(cli, project):
    assert cli("label", project, "plain/a.jpg", "nose=10,20", "left_eye=1,2,occluded", "right_eye=absent").code == 0
    assert cli("label", project, "exif/rot6.jpg", "nose=5,6").code == 0


def test_yolo_export_import(cli, project, images, tmp_path):
    _label(cli, project)
    out = tmp_path / "yolo"
    r = cli("export", project, "--yolo", out, "--split-ratio", "1,0")
    assert r.code == 0, r.err
    assert f"wrote {out}: 2 images (train 2), 2 instances, 3 points with a position, 0 background images" in r.out
    assert f"train: yolo pose train data={out / 'data.yaml'} model=yolo11n-pose.pt" in r.out
    assert "1 EXIF-rotated image(s) were written upright" in r.out
    assert (out / "labels/train/a.txt").is_file() and (out / "labels/train/rot6.txt").is_file()

    fresh = tmp_path / "fresh.labeler"
    cli("init", fresh, "--images", images.root)
    r = cli("import", fresh, "--yolo", out / "data.yaml")
    assert r.code == 0, r.err
    assert "imported" in r.out and "2 images matched" in r.out and "schema was taken from the file" in r.out
    with Project.open(fresh) as p:
        assert p.schema().keypoints == ("nose", "left_eye", "right_eye", "tail")
        assert p.schema().flip_pairs == (("left_eye", "right_eye"),)


def test_yolo_cli_errors(cli, project, tmp_path):
    r = cli("export", project, "--yolo", tmp_path / "y")
    assert r.code == 2 and r.err.startswith("error: no image has a confirmed keypoint yet")
    _label(cli, project)
    r = cli("export", project, "--yolo", tmp_path / "y", "--split-ratio", "1")
    assert r.code == 2 and "error: --split-ratio takes 2 to 3 non-negative numbers" in r.err
    assert cli("export", project, "--yolo", tmp_path / "y").code == 0
    r = cli("export", project, "--yolo", tmp_path / "y")
    assert r.code == 2 and "add --overwrite" in r.err
    assert cli("export", project, "--yolo", tmp_path / "y", "--overwrite", "--images", "copy").code == 0
    (tmp_path / "y/labels/train").mkdir(parents=True, exist_ok=True)
    (tmp_path / "y/labels/train/a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (tmp_path / "y/labels/val").mkdir(parents=True, exist_ok=True)
    (tmp_path / "y/labels/val/a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    r = cli("import", project, "--yolo", tmp_path / "y")
    assert r.code == 2 and r.err.startswith("error: ") and "rows need 17 numbers" in r.err
    assert "Traceback" not in r.err
    r = cli("import", project, "--yolo", tmp_path / "y", "--dlc", tmp_path / "x.csv")
    assert r.code == 2  # one source at a time (argparse's usage error)


def test_dlc_export_import(cli, project, images, tmp_path):
    _label(cli, project)
    out = tmp_path / "dlc"
    r = cli("export", project, "--dlc", out, "--scorer", "Ana")
    assert r.code == 0, r.err
    assert f"wrote {out}: 2 images in 2 labeled-data folders, 3 points with a position (1 occluded)" in r.out
    csv = out / "labeled-data" / "plain" / "CollectedData_Ana.csv"
    assert csv.read_text().splitlines()[3] == "labeled-data,plain,a.jpg,10.0,20.0,1.0,2.0,,,,"
    fresh = tmp_path / "fresh.labeler"
    cli("init", fresh, "--images", images.root)
    r = cli("import", fresh, "--dlc", out)
    assert r.code == 0, r.err
    assert "2 images matched" in r.out and "DeepLabCut has no visibility" in r.out
    r = cli("import", fresh, "--dlc", csv)
    assert r.code == 0 and "2 unchanged" in r.out
    r = cli("export", project, "--dlc", tmp_path / "d2", "--scorer", "a/b")
    assert r.code == 2 and r.err.startswith("error: --scorer 'a/b'")


def test_dlc_import_lists_what_was_not_imported(cli, project, tmp_path):
    _label(cli, project)
    out = tmp_path / "dlc"
    assert cli("export", project, "--dlc", out, "--images", "copy").code == 0
    (out / "labeler_export.json").unlink()
    other_images = tmp_path / "other"
    other_images.mkdir()
    from labeler.store.testing import write_image

    write_image(other_images / "x.jpg")
    other = tmp_path / "other.labeler"
    cli("init", other, "--images", other_images, "--keypoints", "nose,left_eye,right_eye,tail")
    r = cli("import", other, "--dlc", out)
    assert r.code == 1  # done, but points were not imported: listed on stderr
    assert "warning: 3 points of 2 images NOT imported" in r.err
    assert "plain/a.jpg: no such file under the images root (2 points)" in r.err


def test_an_export_with_predictions_is_never_imported_as_labels(cli, project, tmp_path):
    """YOLO and DeepLabCut cannot tell a prediction from a label: re-importing a --predicted
    export would have confirmed every prediction nobody reviewed (found by QA)."""
    _label(cli, project)
    with Project.open(project) as p:
        b = p.image_by_path("plain/b.png").id
        p.write_predictions([(b, {"nose": (3.0, 4.0, 0.4)})], method="m", model=None, signature="s")
        before = p.counts().points_by_status
    assert before["predicted"] == 1
    for flag, out, source in (("--yolo", tmp_path / "y", tmp_path / "y" / "data.yaml"),
                              ("--dlc", tmp_path / "d", tmp_path / "d")):
        assert cli("export", project, flag, out, "--predicted").code == 0
        r = cli("import", project, flag, source)
        assert r.code == 2 and "exported with --predicted" in r.err and "without --predicted" in r.err
        with Project.open(project) as p:
            assert p.counts().points_by_status == before


def test_a_dlc_skeleton_the_project_lacks_is_noted_not_dropped_silently(cli, project, images, tmp_path):
    _label(cli, project)
    assert cli("export", project, "--dlc", tmp_path / "d").code == 0
    bare = tmp_path / "bare.labeler"
    assert cli("init", bare, "--images", images.root, "--keypoints", "nose,left_eye,right_eye,tail").code == 1  # broken files listed
    r = cli("import", bare, "--dlc", tmp_path / "d")
    assert r.code == 0, r.err
    assert "the file's skeleton differs from the project's; the project's was kept" in r.out + r.err
