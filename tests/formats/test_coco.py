"""COCO keypoint export/import: pycocotools validity, exact round trip, and every bad file."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from labeler.errors import FormatError, UserInputError
from labeler.formats.coco import bbox_from_points, export_coco, import_coco, read_coco, to_coco
from labeler.store import ACCEPTED, CORRECTED, MANUAL, PREDICTED, MergeConflict, Project
from labeler.store.testing import copy_project, make_project, write_image


@pytest.fixture(scope="module")
def _labelled_template(tmp_path_factory):
    """A project with every kind of point: manual, absent, occluded, accepted, corrected, predicted."""
    folder = tmp_path_factory.mktemp("coco-template")
    project, sample = make_project(folder)
    a = project.image_by_path("plain/a.jpg").id
    b = project.image_by_path("plain/b.png").id
    rot = project.image_by_path("exif/rot6.jpg").id
    uni = project.image_by_path("Ünïcødé folder with spaces/猫 the cat.jpg").id
    cmyk = project.image_by_path("formats/cmyk.jpg").id
    project.set_points(a, {"nose": (10.25, 20.5), "left_eye": (30, 12), "right_eye": "absent", "tail": (63.5, 47, 1)})
    project.set_points(uni, {"nose": (0, 0), "tail": (48, 36)})
    project.write_predictions(
        [
            (b, {"nose": (5, 6, 0.25), "left_eye": (7, 8, 0.75), "tail": (9, 10, None)}),
            (rot, {"nose": (39.5, 59.5, 0.9), "right_eye": (1, 2, 0.1)}),
        ],
        method="dift",
        model="sd-2-1",
        signature="s",
    )
    project.accept_predictions([b], names=["left_eye"])
    project.correct_point(rot, "nose", 20, 30)
    project.set_absent(cmyk, "nose")  # an image whose only row says "absent"
    project.close()
    return folder, sample


@pytest.fixture
def labelled(_labelled_template, tmp_path):
    folder, sample = _labelled_template
    project = copy_project(folder, tmp_path / "a")
    yield project, replace(sample, root=tmp_path / "a" / "images")
    project.close()


def _fresh(tmp_path, sample_root, name="fresh"):
    """A project over the same images, with no keypoint schema yet."""
    return Project.create(tmp_path / name / "p.labeler", sample_root, [], images=_probed(sample_root))


def _probed(root):
    from labeler.store import find_image_files, probe_files, relative_to_root

    return probe_files([(f, relative_to_root(f, root)) for f in find_image_files(root)], progress=False)[0]


def _dump(tmp_path, data, name="in.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("predicted", [False, True])
def test_export_loads_in_pycocotools(labelled, tmp_path, predicted):
    project, sample = labelled
    out = tmp_path / "out.json"
    report = export_coco(project, out, predicted=predicted)
    coco = COCO(str(out))
    schema = project.schema()
    k = len(schema.keypoints)
    (cat,) = coco.loadCats(coco.getCatIds())
    assert cat["keypoints"] == list(schema.keypoints)
    assert cat["skeleton"] == [[1, 2], [1, 3], [1, 4]]  # 1-based
    assert cat["flip_idx"] == [0, 2, 1, 3]
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == report.annotations == 5  # a, b, rot6, unicode, cmyk (only "absent")
    for ann in anns:
        img = coco.loadImgs(ann["image_id"])[0]
        kps = np.array(ann["keypoints"], dtype=float).reshape(k, 3)
        assert ann["num_keypoints"] == int((kps[:, 2] > 0).sum())
        assert np.all(kps[kps[:, 2] == 0] == 0)  # unlabelled and absent: exactly 0,0,0
        assert set(kps[:, 2]) <= {0, 1, 2}
        x, y, w, h = ann["bbox"]
        assert 0 <= x and 0 <= y and x + w <= img["width"] + 1e-9 and y + h <= img["height"] + 1e-9
        labelled_pts = kps[kps[:, 2] > 0]
        if len(labelled_pts):
            assert np.all(labelled_pts[:, 0] >= x) and np.all(labelled_pts[:, 0] <= x + w)
        assert ann["area"] == pytest.approx(w * h)
        assert ann["iscrowd"] == 0
        assert len(ann["keypoint_status"]) == k
        assert ("keypoint_scores" in ann) == predicted
    by_name = {coco.loadImgs(a["image_id"])[0]["file_name"]: a for a in anns}
    assert "Ünïcødé folder with spaces/猫 the cat.jpg" in by_name
    assert by_name["formats/cmyk.jpg"]["num_keypoints"] == 0
    assert by_name["formats/cmyk.jpg"]["keypoint_status"][0] == MANUAL  # absent survives
    rot = by_name["exif/rot6.jpg"]
    assert coco.loadImgs(rot["image_id"])[0]["width"] == 40  # as displayed
    if predicted:
        b = by_name["plain/b.png"]
        assert b["keypoint_status"] == [PREDICTED, ACCEPTED, "unlabeled", PREDICTED]
        assert b["keypoint_scores"] == [0.25, 0.75, 0.0, 0.0]
        assert by_name["plain/a.jpg"]["keypoint_scores"][0] == 1.0
        assert rot["keypoint_status"][:3] == [CORRECTED, "unlabeled", PREDICTED]
    else:
        assert "plain/b.png" in by_name  # its accepted point is confirmed
        assert by_name["plain/b.png"]["keypoints"][:3] == [0, 0, 0]
        assert by_name["exif/rot6.jpg"]["keypoint_status"][2] == "unlabeled"  # prediction left out


def test_export_scores_perfectly_against_itself(labelled, tmp_path):
    project, _ = labelled
    out = tmp_path / "gt.json"
    export_coco(project, out)
    gt = COCO(str(out))
    results = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in gt.loadAnns(gt.getAnnIds())
        if a["num_keypoints"] > 0
    ]
    dt = gt.loadRes(results)
    ev = COCOeval(gt, dt, "keypoints")
    ev.params.kpt_oks_sigmas = np.full(4, 0.05)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


@pytest.mark.parametrize("predicted", [False, True])
def test_round_trip_is_exact(labelled, tmp_path, predicted):
    project, sample = labelled
    first = tmp_path / "first.json"
    export_coco(project, first, predicted=predicted, category="cat")
    with _fresh(tmp_path, sample.root) as fresh:
        report = import_coco(fresh, first)
        assert report.merge.schema_created
        assert fresh.schema() == project.schema()
        second = tmp_path / "second.json"
        export_coco(fresh, second, predicted=predicted, category="cat")
        assert second.read_bytes() == first.read_bytes()
        again = import_coco(fresh, first)  # importing twice changes nothing
        assert again.merge.written == again.merge.predictions_written == 0
        export_coco(fresh, second, predicted=predicted, category="cat")
        assert second.read_bytes() == first.read_bytes()


def test_import_registers_unknown_images_and_reports_missing_ones(labelled, tmp_path):
    project, sample = labelled
    data = to_coco(project)
    k = len(project.schema().keypoints)
    for i, name in enumerate(["late/new.png", "late/gone.png", "late/bad.jpg"], start=100):
        data["images"].append({"id": i, "file_name": name, "width": 64, "height": 48})
        data["annotations"].append({"id": i, "image_id": i, "category_id": 1, "keypoints": [1, 1, 2] + [0, 0, 0] * (k - 1)})
    with _fresh(tmp_path, sample.root) as fresh:
        fresh.remove_images([fresh.image_by_path("plain/a.jpg").id])
        write_image(sample.root / "late" / "new.png", "rgb", (64, 48))  # on disk, not yet in the project
        write_image(sample.root / "late" / "bad.jpg", "text")
        report = import_coco(fresh, _dump(tmp_path, data))
        assert set(report.registered) == {"late/new.png", "plain/a.jpg"}
        assert fresh.points(fresh.image_by_path("late/new.png").id)["nose"].x == 1
        assert {(f, n) for f, _, n in report.not_imported} == {("late/gone.png", 1), ("late/bad.jpg", 1)}
        assert report.points_not_imported == 2


def test_zero_points_mean_unlabelled_unless_status_says_absent(labelled, tmp_path):
    project, sample = labelled
    data = to_coco(project)
    for ann in data["annotations"]:
        del ann["keypoint_status"]  # a plain COCO file from another tool
    with _fresh(tmp_path, sample.root) as fresh:
        import_coco(fresh, _dump(tmp_path, data))
        a = fresh.points(fresh.image_by_path("plain/a.jpg").id)
        assert set(a) == {"nose", "left_eye", "tail"}  # right_eye 0,0,0: not labelled
        assert all(p.status == MANUAL for p in a.values())
        assert fresh.points(fresh.image_by_path("formats/cmyk.jpg").id) == {}


def test_predictions_in_a_file_never_replace_confirmed_points(labelled, tmp_path):
    project, sample = labelled
    data = to_coco(project, predicted=True)
    ann = next(a for a in data["annotations"] if data["images"][a["image_id"] - 1]["file_name"] == "plain/a.jpg")
    ann["keypoints"][0:3] = [1.5, 1.5, 2]
    ann["keypoint_status"][0] = PREDICTED
    report = import_coco(project, _dump(tmp_path, data))
    assert report.merge.kept_confirmed == 1
    assert project.points(project.image_by_path("plain/a.jpg").id)["nose"].x == 10.25


def test_conflicts_error_keep_or_replace(labelled, tmp_path):
    project, _ = labelled
    data = to_coco(project)
    ann = data["annotations"][[i["file_name"] for i in data["images"]].index("plain/a.jpg")]
    ann["keypoints"][0:3] = [11, 21, 2]
    path = _dump(tmp_path, data)
    a = project.image_by_path("plain/a.jpg").id
    before = project.counts()
    with pytest.raises(MergeConflict, match=r"plain/a.jpg nose: project \(10.25, 20.5\)") as info:
        import_coco(project, path)
    assert len(info.value.conflicts) == 1
    assert project.counts() == before and project.points(a)["nose"].x == 10.25
    assert import_coco(project, path, on_conflict="keep").merge.conflicts
    assert project.points(a)["nose"].x == 10.25
    import_coco(project, path, on_conflict="replace")
    assert project.points(a)["nose"].x == 11


def test_keypoint_order_may_differ_but_names_must_match(labelled, tmp_path):
    project, sample = labelled
    data = to_coco(project)
    cat = data["categories"][0]
    order = [3, 2, 1, 0]
    cat["keypoints"] = [cat["keypoints"][i] for i in order]
    cat["skeleton"], cat["flip_idx"] = [], [0, 2, 1, 3]
    for ann in data["annotations"]:
        trip = [ann["keypoints"][3 * i : 3 * i + 3] for i in range(4)]
        ann["keypoints"] = [v for i in order for v in trip[i]]
        ann["keypoint_status"] = [ann["keypoint_status"][i] for i in order]
    report = import_coco(project, _dump(tmp_path, data))
    assert report.merge.unchanged > 0 and report.merge.written == 0 and not report.merge.conflicts
    assert any("order" in n for n in report.notes) and any("skeleton" in n for n in report.notes)
    cat["keypoints"][0] = "wing"
    with pytest.raises(FormatError, match="not in the project: wing"):
        import_coco(project, _dump(tmp_path, data))


def _base(project):
    return to_coco(project)


BAD_FILES = {
    "not json": (lambda d: "{oops", "not valid JSON"),
    "not coco": (lambda d: [], "not a COCO file"),
    "no keypoint category": (lambda d: {**d, "categories": [{"id": 1, "name": "x"}]}, "no category lists the keypoint names"),
    "short keypoints": (lambda d: _ann(d, keypoints=[1, 2, 2]), "must be a list of 12 numbers"),
    "visibility 3": (lambda d: _ann(d, keypoints=[1, 2, 3] + [0] * 9), "visibility must be 0, 1 or 2"),
    "string coordinate": (lambda d: _ann(d, keypoints=["1", 2, 2] + [0] * 9), "must be a list of 12 numbers"),
    "bad status": (lambda d: _ann(d, keypoint_status=["ok"] * 4), "keypoint_status"),
    "unknown image id": (lambda d: _ann(d, image_id=999), "'image_id' 999 is not in 'images'"),
    "duplicate image id": (lambda d: {**d, "images": d["images"] + [dict(d["images"][0], file_name="x.png")]}, "used twice"),
    "bad skeleton": (lambda d: _cat(d, skeleton=[[0, 1]]), "1-based"),
    "bad flip_idx": (lambda d: _cat(d, flip_idx=[1, 1, 2, 3]), "flip_idx"),
    "parent dir": (lambda d: _img(d, file_name="../outside.jpg"), r"file_name points outside the images root"),
    "absolute outside": (lambda d: _img(d, file_name="/etc/passwd"), r"file_name points outside the images root"),
    "size mismatch": (lambda d: _img(d, width=48, height=64), r"size 48x64 in the file, 64x48 on disk \(EXIF"),
    "outside image": (lambda d: _ann(d, keypoints=[64.5, 1, 2] + [0] * 9), r"\(64.5, 1\) is outside the 64x48 image"),
    "prediction without position": (
        lambda d: _ann(d, keypoints=[0] * 12, keypoint_status=[PREDICTED] * 4),
        "prediction with visibility 0",
    ),
    "position but unlabeled": (
        lambda d: _ann(d, keypoints=[1, 1, 2] + [0] * 9, keypoint_status=["unlabeled"] * 4),
        "unlabeled",
    ),
}


def _a_jpg(d):
    """(image entry, annotation) of plain/a.jpg (64 x 48), the one the bad cases spoil."""
    image = next(i for i in d["images"] if i["file_name"] == "plain/a.jpg")
    return image, next(a for a in d["annotations"] if a["image_id"] == image["id"])


def _ann(d, **changes):
    _a_jpg(d)[1].update(changes)
    return d


def _cat(d, **changes):
    d["categories"][0].update(changes)
    return d


def _img(d, **changes):
    _a_jpg(d)[0].update(changes)
    return d


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_are_refused_and_nothing_is_written(labelled, tmp_path, case):
    project, _ = labelled
    make, message = BAD_FILES[case]
    data = make(copy.deepcopy(_base(project)))
    assert data is not None
    path = tmp_path / "bad.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    before = (project.counts(), project.all_points(), project.image_count())
    with pytest.raises(FormatError, match=message):
        import_coco(project, path)
    assert (project.counts(), project.all_points(), project.image_count()) == before


def test_absolute_file_name_inside_the_root_is_accepted(labelled, tmp_path):
    project, sample = labelled
    data = _img(_base(project), file_name=str(sample.root / "plain" / "a.jpg"))
    report = import_coco(project, _dump(tmp_path, data))
    assert report.matched == len(data["images"]) and report.merge.unchanged > 0


def test_missing_file_and_category_choice(labelled, tmp_path):
    project, _ = labelled
    with pytest.raises(FormatError, match="file not found"):
        read_coco(tmp_path / "nope.json")
    data = _base(project)
    data["categories"].append(dict(data["categories"][0], id=2, name="other"))
    path = _dump(tmp_path, data)
    with pytest.raises(FormatError, match="several keypoint categories"):
        read_coco(path)
    assert read_coco(path, category="other").category == "other"
    with pytest.raises(FormatError, match="no keypoint category named 'zzz'"):
        read_coco(path, category="zzz")
    report = import_coco(project, path, category=data["categories"][0]["name"])
    assert report.merge.unchanged > 0


def test_bbox_is_padded_and_clipped():
    assert bbox_from_points([], 10, 10) == [0.0, 0.0, 0.0, 0.0]
    assert bbox_from_points([(5, 5)], 100, 100) == [3.0, 3.0, 4.0, 4.0]
    assert bbox_from_points([(10, 10), (30, 20)], 100, 100) == [6.0, 6.0, 28.0, 18.0]
    assert bbox_from_points([(0, 0), (100, 50)], 100, 50) == [0.0, 0.0, 100.0, 50.0]


def test_export_needs_a_schema_and_an_existing_folder(tmp_path, labelled):
    project, sample = labelled
    with pytest.raises(UserInputError, match="folder"):
        export_coco(project, tmp_path / "no" / "out.json")
    with _fresh(tmp_path, sample.root) as fresh, pytest.raises(UserInputError, match="no keypoints"):
        export_coco(fresh, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_import_matches_file_names_in_another_unicode_normalisation(tmp_path):
    """macOS tools write NFD, most others NFC: the same name must match either way, for images
    already in the project and for files on disk registered by the import."""
    import unicodedata

    root = tmp_path / "images"
    known = unicodedata.normalize("NFD", "café/é.png")  # stored as on disk (NFD)
    later = unicodedata.normalize("NFC", "naïve/ï.png")  # on disk in NFC, not yet registered
    write_image(root / known, "rgb", (20, 10))
    with Project.create(tmp_path / "p.labeler", root, ["a", "b"], images=_probed(root)) as project:
        write_image(root / later, "rgb", (20, 10))
        data = {
            "images": [
                {"id": 1, "file_name": unicodedata.normalize("NFC", known), "width": 20, "height": 10},
                {"id": 2, "file_name": unicodedata.normalize("NFD", later), "width": 20, "height": 10},
            ],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 1, "keypoints": [1, 2, 2, 0, 0, 0]},
                {"id": 2, "image_id": 2, "category_id": 1, "keypoints": [3, 4, 2, 5, 6, 1]},
            ],
            "categories": [{"id": 1, "name": "x", "keypoints": ["a", "b"]}],
        }
        report = import_coco(project, _dump(tmp_path, data))
        assert report.not_imported == ()
        assert report.registered == (later,)
        assert project.points(project.image_by_path(known).id)["a"].x == 1
        assert project.points(project.image_by_path(later).id)["b"].visibility == 1
        assert project.image_count() == 2


def _umask() -> int:
    import os

    old = os.umask(0o022)
    os.umask(old)
    return old


def test_export_file_permissions_and_bad_targets(labelled, tmp_path):
    """The JSON gets the user's usual permissions (not the temp file's 0600), replacing a file
    keeps its mode, and a folder or an unwritable place is a clear error that writes nothing."""
    project, _ = labelled
    out = tmp_path / "out.json"
    export_coco(project, out)
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()
    out.chmod(0o640)
    export_coco(project, out)
    assert out.stat().st_mode & 0o777 == 0o640
    folder = tmp_path / "a folder"
    folder.mkdir()
    with pytest.raises(UserInputError, match="is a folder"):
        export_coco(project, folder)
    assert list(folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "a folder", "out.json"]


def test_interrupted_export_keeps_the_previous_file(labelled, tmp_path, monkeypatch):
    project, _ = labelled
    out = tmp_path / "out.json"
    out.write_text('{"previous": true}', encoding="utf-8")

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("labeler.formats.coco.os.replace", boom)
    with pytest.raises(KeyboardInterrupt):
        export_coco(project, out)
    assert out.read_text(encoding="utf-8") == '{"previous": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "out.json"]


def test_write_errors_are_user_errors(labelled, tmp_path, monkeypatch):
    import errno

    project, _ = labelled

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("labeler.formats.coco.os.fsync", full)
    with pytest.raises(UserInputError, match="No space left"):
        export_coco(project, tmp_path / "out.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_windows_separators_in_file_name_are_matched(labelled, tmp_path):
    """COCO files written on Windows name 'folder\\file.jpg'; on Linux and macOS that is the file
    folder/file.jpg (a literal backslash in a name is matched first when such a file exists)."""
    project, sample = labelled
    data = to_coco(project)
    for im in data["images"]:
        im["file_name"] = im["file_name"].replace("/", "\\")
    with _fresh(tmp_path, sample.root) as fresh:
        report = import_coco(fresh, _dump(tmp_path, data))
        assert report.not_imported == ()
        assert fresh.points(fresh.image_by_path("plain/a.jpg").id)["nose"].x == 10.25


def test_file_name_that_starts_with_the_images_folder_is_matched(labelled, tmp_path):
    """Tools often write 'images/plain/a.jpg' (the folder name included) when the images root
    is that folder; the leading components that repeat the root's own name are dropped."""
    project, sample = labelled
    data = to_coco(project)
    for im in data["images"]:
        im["file_name"] = f"{sample.root.parent.name}/{sample.root.name}/{im['file_name']}"
    with _fresh(tmp_path, sample.root) as fresh:
        report = import_coco(fresh, _dump(tmp_path, data))
        assert report.not_imported == ()
        assert fresh.points(fresh.image_by_path("plain/a.jpg").id)["nose"].x == 10.25


def test_export_never_replaces_a_file_that_is_not_json(labelled, tmp_path):
    """A slip of the keyboard (`export p.labeler --coco p.labeler`, or an image's name) must not
    destroy the project or a picture: only JSON files (or nothing) are replaced."""
    project, sample = labelled
    image = sample.root / "plain" / "a.jpg"
    before = image.read_bytes()
    with pytest.raises(UserInputError, match="not a JSON file; refusing to replace it"):
        export_coco(project, image)
    assert image.read_bytes() == before
    with pytest.raises(UserInputError, match="is the project file"):
        export_coco(project, project.path)
    assert project.counts().points > 0
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    export_coco(project, empty)  # an empty placeholder may be replaced
    assert json.loads(empty.read_text())["annotations"]


def test_utf16_files_and_absurd_nesting(labelled, tmp_path):
    """Windows tools (PowerShell's Out-File) write UTF-16 with a BOM: read like UTF-8. A file
    nested absurdly deep is a FormatError, not a RecursionError traceback."""
    project, _ = labelled
    data = to_coco(project)
    wide = tmp_path / "wide.json"
    wide.write_bytes(json.dumps(data).encode("utf-16"))
    assert read_coco(wide).schema.keypoints == tuple(data["categories"][0]["keypoints"])
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(FormatError, match="nested too deeply"):
        read_coco(deep)


def test_absolute_file_name_from_another_machine_is_matched_by_the_folder_name(labelled, tmp_path):
    """A colleague's file names '/home/alice/data/images/plain/a.jpg': the part after the images
    folder's own name is the image here. Without that folder name it stays refused."""
    project, sample = labelled
    data = to_coco(project)
    for im in data["images"]:
        im["file_name"] = f"/home/alice/data/{sample.root.name}/{im['file_name']}"
    with _fresh(tmp_path, sample.root) as fresh:
        report = import_coco(fresh, _dump(tmp_path, data))
        assert report.not_imported == ()
        assert fresh.points(fresh.image_by_path("plain/a.jpg").id)["nose"].x == 10.25
        data["images"][0]["file_name"] = "/home/alice/elsewhere/plain/a.jpg"
        with pytest.raises(FormatError, match="points outside the images root"):
            import_coco(fresh, _dump(tmp_path, data))


def test_flagged_images_no_object_is_a_negative_and_skip_is_left_out(labelled, tmp_path):
    """COCO lists an image without annotations as a negative; skipped images are not labelled."""
    from labeler.store import FLAG_LATER, FLAG_NO_OBJECT, FLAG_SKIP

    project, _ = labelled
    a = project.image_by_path("plain/a.jpg").id
    uni = project.image_by_path("Ünïcødé folder with spaces/猫 the cat.jpg").id
    empty = project.image_by_path("plain/c.jpg").id if project.find_image("plain/c.jpg") else None
    rows_before = {i["file_name"] for i in to_coco(project)["images"]}
    assert "plain/a.jpg" in rows_before
    project.set_image_flag(a, FLAG_NO_OBJECT)  # it has points: the flag wins, none are written
    project.set_image_flag(uni, FLAG_SKIP)
    if empty is not None:
        project.set_image_flag(empty, FLAG_LATER)
    report = export_coco(project, tmp_path / "flags.json")
    data = json.loads((tmp_path / "flags.json").read_text(encoding="utf-8"))
    by_name = {i["file_name"]: i["id"] for i in data["images"]}
    assert "plain/a.jpg" in by_name
    assert not [x for x in data["annotations"] if x["image_id"] == by_name["plain/a.jpg"]]
    assert "Ünïcødé folder with spaces/猫 the cat.jpg" not in by_name
    assert report.no_object == 1 and report.skipped == 1
    coco = COCO(str(tmp_path / "flags.json"))  # pycocotools reads it; the negative has no annotation
    assert coco.getAnnIds(imgIds=[by_name["plain/a.jpg"]]) == []
