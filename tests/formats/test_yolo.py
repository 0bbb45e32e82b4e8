"""Ultralytics YOLO pose export/import: exact files, upright EXIF images, stable splits, round
trips and every refusal. Expected texts are written by hand from the Ultralytics pose format
(class cx cy w h, then x y v per keypoint, normalised by the displayed size)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image

from labeler.errors import FormatError, UserInputError
from labeler.formats.exchange import parse_ratio, split_of
from labeler.formats.yolo import SPLITS, export_yolo, import_yolo
from labeler.store import ABSENT, Project, find_image_files, probe_files, relative_to_root
from labeler.store.testing import write_image

NAMES = ["nose", "left_eye", "right_eye"]


def _probed(root: Path):
    return probe_files([(f, relative_to_root(f, root)) for f in find_image_files(root)], progress=False)[0]


def _images(root: Path) -> Path:
    write_image(root / "nest" / "a.jpg", "rgb", (100, 50))
    write_image(root / "park" / "a.jpg", "rgb", (40, 80), seed=1)
    write_image(root / "rot.jpg", "exif6", (60, 40), seed=2)  # displayed 40 x 60
    write_image(root / "Ünï" / "猫.png", "rgb", (30, 20), seed=3)  # saved as PNG by its suffix
    write_image(root / "todo.jpg", "rgb", (20, 20), seed=4)
    return root


def _project(folder: Path, *, pairs=(("left_eye", "right_eye"),), name="birds.labeler") -> Project:
    root = folder / "images"
    if not root.exists():
        _images(root)
    return Project.create(folder / name, root, NAMES, [("nose", "left_eye")], list(pairs), images=_probed(root))


def _label(project: Project) -> None:
    ids = {im.path: im.id for im in project.list_images()}
    project.set_points(ids["nest/a.jpg"], {"nose": (50, 25), "left_eye": (10, 10, 1), "right_eye": "absent"})
    project.set_points(ids["park/a.jpg"], {n: "absent" for n in NAMES})  # labelled, no bird: a background image
    project.set_points(ids["rot.jpg"], {"nose": (20, 30)})
    project.set_points(ids["Ünï/猫.png"], {"nose": (15, 5), "left_eye": (0, 20), "right_eye": (30, 0)})
    project.set_absent(ids["todo.jpg"], "nose")  # labelling in progress: left out


# Hand-computed: nest/a.jpg 100x50, points (50,25) v2, (10,10) v1. Box = tight box grown by
# 0.1 * 40 + 2 = 6 px: x 4..56, y 4..31 -> centre (30, 17.5) = (0.3, 0.35), size 52 x 27 = (0.52, 0.54).
NEST_A = "0 0.300000 0.350000 0.520000 0.540000 0.500000 0.500000 2 0.100000 0.200000 1 0 0 0\n"
# rot.jpg displayed 40x60, nose (20, 30): box 18..22 x 28..32 -> 0.5 0.5 0.1 0.066667.
ROT = "0 0.500000 0.500000 0.100000 0.066667 0.500000 0.500000 2 0 0 0 0 0 0\n"
# 猫.png 30x20: points (15,5) (0,20) (30,0); the grown box is clipped to the whole image.
CAT = "0 0.500000 0.500000 1.000000 1.000000 0.500000 0.250000 2 0.000000 1.000000 2 1.000000 0.000000 2\n"


def _data_yaml(out: Path, flip: str, val: str = "images/val", name: str = "birds") -> str:
    return (
        "# Ultralytics YOLO pose dataset written by labeler.\n"
        "# Train: yolo pose train data=data.yaml model=yolo11n-pose.pt  (path: below is this folder)\n"
        f'path: "{out.absolute()}"\n'
        "train: images/train\n"
        f"val: {val}\n"
        "\n"
        "kpt_shape: [3, 3]\n"
        f"flip_idx: {flip}\n"
        "\n"
        "names:\n"
        f'  0: "{name}"\n'
        "\n"
        "kpt_names:\n"
        "  0:\n"
        '    - "nose"\n'
        '    - "left_eye"\n'
        '    - "right_eye"\n'
    )


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def labelled(tmp_path):
    project = _project(tmp_path / "a")
    _label(project)
    yield project
    project.close()


def test_exact_files_all_in_train(labelled, tmp_path):
    out = tmp_path / "yolo"
    report = export_yolo(labelled, out, split_ratio=(1.0, 0.0))
    assert (out / "data.yaml").read_text(encoding="utf-8") == _data_yaml(out, "[0, 2, 1]", val="images/train")
    labels = {p.name: p.read_text(encoding="utf-8") for p in (out / "labels" / "train").iterdir()}
    # the two a.jpg are renamed from their folders, deterministically; label stems match image stems
    assert labels == {"nest__a.txt": NEST_A, "park__a.txt": "", "rot.txt": ROT, "猫.txt": CAT}
    assert sorted(p.name for p in (out / "images" / "train").iterdir()) == ["nest__a.jpg", "park__a.jpg", "rot.jpg", "猫.png"]
    assert list((out / "images" / "val").iterdir()) == [] and list((out / "labels" / "val").iterdir()) == []
    assert report.images == {"train": 4, "val": 0, "test": 0}
    assert (report.instances, report.backgrounds, report.points) == (3, 1, 6)
    assert report.renamed == (("nest/a.jpg", "nest__a.jpg"), ("park/a.jpg", "park__a.jpg"))
    assert report.left_out == ("todo.jpg",)
    assert any("renamed" in n for n in report.notes) and any("no val split" in n for n in report.notes)
    # linked images point at the originals; the EXIF-rotated one is written upright, without the tag
    assert (out / "images/train/nest__a.jpg").resolve() == (labelled.images_root / "nest/a.jpg").resolve()
    rot = out / "images/train/rot.jpg"
    assert not rot.is_symlink()
    with Image.open(rot) as im:
        assert im.size == (40, 60) and im.getexif().get(0x0112, 1) == 1
    # PyYAML reads what Ultralytics reads
    data = yaml.safe_load((out / "data.yaml").read_text(encoding="utf-8"))
    assert data["kpt_shape"] == [3, 3] and data["flip_idx"] == [0, 2, 1] and data["names"] == {0: "birds"}
    assert data["kpt_names"] == {0: NAMES} and Path(data["path"]) == out.absolute()


def test_flip_idx_without_pairs_copy_mode_and_predicted(tmp_path):
    project = _project(tmp_path / "a", pairs=())
    ids = {im.path: im.id for im in project.list_images()}
    project.write_predictions([(ids["nest/a.jpg"], {"nose": (50, 25, 0.5)})], method="dift", model="m", signature="s")
    with pytest.raises(UserInputError, match="no image has a confirmed keypoint yet.*--predicted"):
        export_yolo(project, tmp_path / "none")
    assert not (tmp_path / "none").exists()
    export_yolo(project, tmp_path / "y", predicted=True, images="copy", split_ratio=(1, 0))
    assert "flip_idx: [0, 1, 2]\n" in (tmp_path / "y" / "data.yaml").read_text(encoding="utf-8")
    img = tmp_path / "y/images/train/a.jpg"
    assert not img.is_symlink() and img.read_bytes() == (project.images_root / "nest/a.jpg").read_bytes()
    assert (tmp_path / "y/labels/train/a.txt").read_text() == (
        "0 0.500000 0.500000 0.040000 0.080000 0.500000 0.500000 2 0 0 0 0 0 0\n")
    project.close()


def test_split_is_by_hash_of_the_path_and_stable():
    paths = [f"folder/{i:04d}.jpg" for i in range(2000)]
    first = {p: split_of(p, 0, (0.8, 0.2, 0.0), SPLITS) for p in paths}
    share = sum(1 for s in first.values() if s == "train") / len(paths)
    assert 0.77 < share < 0.83 and "test" not in first.values()
    # the split of an image depends on nothing else: adding images never moves the others
    assert all(split_of(p, 0, (0.8, 0.2, 0.0), SPLITS) == s for p, s in first.items())
    other_seed = {p: split_of(p, 1, (0.8, 0.2, 0.0), SPLITS) for p in paths}
    assert other_seed != first
    assert parse_ratio("8:2", SPLITS) == (8.0, 2.0, 0.0) and parse_ratio("0.7,0.2,0.1", SPLITS) == (0.7, 0.2, 0.1)
    for bad in ("0.8", "a,b", "0,1", "-1,2", "1,1,1,1"):
        with pytest.raises(UserInputError, match="--split-ratio takes 2 to 3"):
            parse_ratio(bad, SPLITS)


def test_export_with_val_split_and_images_added_later(labelled, tmp_path):
    export_yolo(labelled, tmp_path / "one", split_ratio=(0.5, 0.5), seed=3)
    before = {p.relative_to(tmp_path / "one").as_posix() for p in (tmp_path / "one" / "images").rglob("*.*")}
    assert any(p.startswith("images/val/") for p in before) and len(before) == 4
    write_image(labelled.images_root / "new.jpg", "rgb", (32, 32), seed=9)
    labelled.add_images(labelled.images_root)
    labelled.set_points(labelled.image_by_path("new.jpg").id, {"nose": (5, 5)})
    export_yolo(labelled, tmp_path / "two", split_ratio=(0.5, 0.5), seed=3)
    after = {p.relative_to(tmp_path / "two").as_posix() for p in (tmp_path / "two" / "images").rglob("*.*")}
    assert before < after and len(after) == 5


def test_round_trip_is_identical(labelled, tmp_path):
    out = tmp_path / "y1"
    export_yolo(labelled, out, split_ratio=(0.5, 0.5))
    fresh = Project.create(tmp_path / "b" / "birds.labeler", labelled.images_root, [], images=_probed(labelled.images_root))
    report = import_yolo(fresh, out)
    assert report.not_imported == () and report.merge.schema_created
    assert fresh.schema().flip_pairs == (("left_eye", "right_eye"),)
    park = fresh.points(fresh.image_by_path("park/a.jpg").id)
    assert {n: p.visibility for n, p in park.items()} == {n: ABSENT for n in NAMES}  # empty label file
    nest = fresh.points(fresh.image_by_path("nest/a.jpg").id)
    assert (nest["nose"].x, nest["nose"].y, nest["left_eye"].visibility) == (50, 25, 1)
    assert "right_eye" not in nest  # 0 0 0: not labelled
    rot = fresh.points(fresh.image_by_path("rot.jpg").id)["nose"]
    assert (rot.x, rot.y) == pytest.approx((20, 30))
    again = tmp_path / "y2"
    export_yolo(fresh, again, split_ratio=(0.5, 0.5))
    one, two = _tree(out), _tree(again)
    yaml1, yaml2 = one.pop("data.yaml").decode(), two.pop("data.yaml").decode()
    assert yaml1.replace(str(out.absolute()), "OUT") == yaml2.replace(str(again.absolute()), "OUT")
    assert one.keys() == two.keys()
    assert {k: v for k, v in one.items() if k.startswith("labels/")} == {k: v for k, v in two.items() if k.startswith("labels/")}
    # importing again changes nothing
    assert import_yolo(fresh, out).merge.written == 0
    fresh.close()


def test_import_a_copied_dataset_under_the_root(labelled, tmp_path):
    """Someone else's dataset (images copied, no labeler record): the project over its folder."""
    out = tmp_path / "y"
    export_yolo(labelled, out, split_ratio=(1, 0), images="copy")
    (out / "labeler_export.json").unlink()
    (out / "data.yaml").write_text((out / "data.yaml").read_text().replace(str(out.absolute()), "/elsewhere"))
    other = Project.create(tmp_path / "o.labeler", out, [], images=_probed(out))
    report = import_yolo(other, out / "data.yaml")
    assert report.not_imported == ()
    assert any("does not exist here" in n for n in report.notes)
    cat = other.points(other.image_by_path("images/train/猫.png").id)
    assert (cat["left_eye"].x, cat["left_eye"].y) == (0, 20)
    other.close()


def test_images_and_labels_not_found_are_reported(labelled, tmp_path):
    out = tmp_path / "y"
    export_yolo(labelled, out, split_ratio=(1, 0), images="copy")
    (out / "labeler_export.json").unlink()
    (out / "labels/train/extra.txt").write_text("0 0.5 0.5 0.1 0.1 0.5 0.5 2 0.1 0.1 2 0 0 0\n")
    elsewhere = tmp_path / "elsewhere"
    write_image(elsewhere / "x.jpg", "rgb", (16, 16))
    p = Project.create(tmp_path / "p.labeler", elsewhere, NAMES, images=_probed(elsewhere))
    report = import_yolo(p, out)
    lost = {name: (why, n) for name, why, n in report.not_imported}
    assert lost["labels/train/extra.txt"] == ("no image for this label file", 2)
    # named by their path in the split folder, which the project's root does not hold
    assert lost == {"labels/train/extra.txt": ("no image for this label file", 2),
                    "nest__a.jpg": ("no such file under the images root", 2),
                    "park__a.jpg": ("no such file under the images root", 3),
                    "rot.jpg": ("no such file under the images root", 1),
                    "猫.png": ("no such file under the images root", 3)}
    p.close()


def test_no_data_yaml_names(labelled, tmp_path):
    out = tmp_path / "y"
    export_yolo(labelled, out, split_ratio=(1, 0))
    (out / "data.yaml").unlink()
    fresh = Project.create(tmp_path / "f.labeler", labelled.images_root, [], images=_probed(labelled.images_root))
    report = import_yolo(fresh, out)
    assert fresh.schema().keypoints == ("kp0", "kp1", "kp2")
    assert any("kp0..kp2" in n for n in report.notes)
    same = Project.create(tmp_path / "s.labeler", labelled.images_root, NAMES, images=_probed(labelled.images_root))
    report = import_yolo(same, out)
    assert any("took the project's 3 keypoints" in n for n in report.notes)
    assert same.points(same.image_by_path("rot.jpg").id)["nose"].x == pytest.approx(20)
    fresh.close()
    same.close()


@pytest.fixture
def dataset(labelled, tmp_path):
    out = tmp_path / "y"
    export_yolo(labelled, out, split_ratio=(1, 0))
    fresh = Project.create(tmp_path / "f" / "p.labeler", labelled.images_root, NAMES, images=_probed(labelled.images_root))
    yield out, fresh
    fresh.close()


def _refused(project, path, match):
    before = project.counts()
    with pytest.raises(FormatError, match=match):
        import_yolo(project, path)
    assert project.counts() == before  # nothing written


@pytest.mark.parametrize(
    ("file", "text", "match"),
    [
        ("labels/train/rot.txt", ROT.replace("0.500000 0.500000 2", "1.500000 0.500000 2"), r"rot.txt nose: \(60, 30\) is outside the 40x60 image"),
        ("labels/train/rot.txt", ROT.replace(" 2 0 0 0", " 3 0 0 0"), "rot.txt nose: visibility must be 0, 1 or 2, got 3"),
        ("labels/train/rot.txt", "0 0.5 0.5 0.1 0.1\n", r"rows need 14 numbers \(class, box, 3 keypoints x 3\), found 5"),
        ("labels/train/rot.txt", "0 0.5 zero\n", "rot.txt line 1: not a row of numbers"),
        ("labels/train/rot.txt", ROT.replace("0 0.5", "1 0.5", 1) + ROT.replace("0 0.5", "0 0.5", 1), "the labels use several classes"),
        ("data.yaml", "kpt_shape: [3]\ntrain: images/train\nval: images/train\n", r"kpt_shape must be \[K, 2\] or \[K, 3\]"),
        ("data.yaml", "train: [unclosed\n", "not valid YAML"),
        ("data.yaml", "- a list\n", "not a YOLO data.yaml"),
        ("data.yaml", "kpt_shape: [3, 3]\n", "names no train/val/test images"),
        ("data.yaml", "kpt_shape: [3, 3]\ntrain: images/train\nflip_idx: [0, 1]\n", "flip_idx.*expected 3 0-based indices"),
        ("data.yaml", "kpt_shape: [3, 3]\ntrain: images/nowhere\n", "images/nowhere does not exist"),
        ("data.yaml", "kpt_shape: [3, 3]\ntrain: images/train\nkpt_names: {0: [a, b]}\n", "kpt_names lists 2 names but kpt_shape says 3"),
    ],
)
def test_refusals(dataset, file, text, match):
    out, fresh = dataset
    (out / file).write_text(text, encoding="utf-8")
    _refused(fresh, out, match)


def test_schema_mismatch_and_bad_paths(dataset, tmp_path):
    out, fresh = dataset
    y = out / "data.yaml"
    y.write_text(y.read_text().replace('"right_eye"', '"tail"'))
    _refused(fresh, out, r"its keypoints \(nose, left_eye, tail\) do not match the project's .*not in the file: right_eye")
    _refused(fresh, tmp_path / "missing", "not found")
    (tmp_path / "x.json").write_text("{}")
    _refused(fresh, tmp_path / "x.json", "give a YOLO dataset folder or its data.yaml")
    (tmp_path / "empty").mkdir()
    _refused(fresh, tmp_path / "empty", "no data.yaml and no images/ folder")


def test_conflicts_follow_the_coco_rules(dataset):
    out, fresh = dataset
    fresh.set_point(fresh.image_by_path("rot.jpg").id, "nose", 1, 1)
    from labeler.store import MergeConflict

    with pytest.raises(MergeConflict):
        import_yolo(fresh, out)
    assert import_yolo(fresh, out, on_conflict="keep").merge.conflicts
    assert fresh.points(fresh.image_by_path("rot.jpg").id)["nose"].x == 1


def test_export_refusals(labelled, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    with pytest.raises(UserInputError, match="folder is not empty; choose a new folder"):
        export_yolo(labelled, busy)
    with pytest.raises(UserInputError, match="not an earlier labeler export"):
        export_yolo(labelled, busy, overwrite=True)
    assert (busy / "mine.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserInputError, match="exists and is not a folder"):
        export_yolo(labelled, tmp_path / "file")
    with pytest.raises(UserInputError, match="--images must be link or copy"):
        export_yolo(labelled, tmp_path / "n", images="move")
    export_yolo(labelled, tmp_path / "again")
    with pytest.raises(UserInputError, match="add --overwrite"):
        export_yolo(labelled, tmp_path / "again")
    export_yolo(labelled, tmp_path / "again", overwrite=True, split_ratio=(1, 0))
    assert (tmp_path / "again/labels/train/rot.txt").read_text() == ROT
    # an image missing on disk is left out and said; with none on disk nothing is written
    shutil.move(labelled.images_root / "rot.jpg", tmp_path / "rot.jpg")
    report = export_yolo(labelled, tmp_path / "some", split_ratio=(1, 0))
    assert "1 labelled image(s) are missing on disk and were left out: rot.jpg" in report.notes
    assert not (tmp_path / "some/labels/train/rot.txt").exists() and sum(report.images.values()) == 3
    shutil.move(labelled.images_root, tmp_path / "moved")
    with pytest.raises(UserInputError, match="none of the 4 labelled images is on disk"):
        export_yolo(labelled, tmp_path / "broken")
    assert not (tmp_path / "broken").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".broken")]


def test_reimporting_an_export_into_its_own_project_changes_nothing(labelled, tmp_path):
    """Six decimals cannot hold 30/72 exactly, and YOLO has no statuses: the file still says what
    the project holds, so nothing is written and nothing conflicts."""
    rot = labelled.image_by_path("rot.jpg").id
    labelled.write_predictions([(rot, {"left_eye": (30.123456789, 44.987654321, 0.5)})], method="dift", model="m", signature="s")
    labelled.accept_predictions([rot], names=["left_eye"])
    export_yolo(labelled, tmp_path / "y", split_ratio=(1, 0))
    before = {n: (p.x, p.y, p.status) for n, p in labelled.points(rot).items()}
    report = import_yolo(labelled, tmp_path / "y")
    assert report.merge.written == 0 and report.merge.conflicts == ()
    assert {n: (p.x, p.y, p.status) for n, p in labelled.points(rot).items()} == before
    assert before["left_eye"][2] == "accepted"


def test_three_way_split(labelled, tmp_path):
    report = export_yolo(labelled, tmp_path / "y", split_ratio=(0.0001, 0.0001, 1.0), seed=0)
    text = (tmp_path / "y" / "data.yaml").read_text(encoding="utf-8")
    assert "\ntest: images/test\n" in text
    assert report.images["test"] >= 2 and report.images["val"] >= 1  # val is never left empty
    assert sum(report.images.values()) == 4
    assert len(list((tmp_path / "y/labels/test").iterdir())) == report.images["test"]


def test_a_class_chosen_by_name_takes_its_own_keypoint_names(dataset):
    out, fresh = dataset
    y = out / "data.yaml"
    text = y.read_text(encoding="utf-8")
    text = text.replace('  0: "birds"\n', '  0: "cats"\n  1: "birds"\n')
    text = text.replace('kpt_names:\n  0:\n', 'kpt_names:\n  0: [a, b, c]\n  1:\n')
    y.write_text(text, encoding="utf-8")
    label = out / "labels/train/rot.txt"
    label.write_text(label.read_text().replace("0 0.5", "1 0.5", 1) + "0 0.1 0.1 0.1 0.1 0 0 0 0 0 0 0 0 0\n")
    report = import_yolo(fresh, out, category="birds")
    # rot's extra row and the class-0 rows of nest__a and 猫, whose images hold no bird: all absent
    assert "ignored 3 row(s) of other classes" in report.notes
    assert fresh.points(fresh.image_by_path("rot.jpg").id)["nose"].x == pytest.approx(20)
    assert {p.visibility for p in fresh.points(fresh.image_by_path("nest/a.jpg").id).values()} == {ABSENT}
    with pytest.raises(FormatError, match="no class named 'dogs'"):
        import_yolo(fresh, out, category="dogs")


def test_round_trip_is_byte_identical_for_generated_points(tmp_path):
    """Export, import into a fresh project, export again: the same label files, for random
    positions with many decimals (the box is computed from the points as the file states them)."""
    import random

    rng = random.Random(7)
    project = _project(tmp_path / "a")
    sizes = {im.path: (im.width, im.height, im.id) for im in project.list_images()}
    for trial in range(6):
        for w, h, image_id in sizes.values():
            project.set_points(image_id, {n: (rng.uniform(0, w), rng.uniform(0, h), rng.choice((1, 2))) for n in NAMES
                                          if rng.random() < 0.8} or {"nose": (rng.uniform(0, w), rng.uniform(0, h))})
        out, again = tmp_path / f"y{trial}", tmp_path / f"z{trial}"
        export_yolo(project, out, split_ratio=(0.5, 0.5))
        fresh = Project.create(tmp_path / f"b{trial}" / "birds.labeler", project.images_root, [],
                               images=_probed(project.images_root))
        import_yolo(fresh, out)
        export_yolo(fresh, again, split_ratio=(0.5, 0.5))
        fresh.close()
        one, two = _tree(out), _tree(again)
        labels = sorted(k for k in one if k.startswith("labels/"))
        assert labels and [one[k] for k in labels] == [two[k] for k in labels], trial
    project.close()


def test_flags_follow_coco_no_object_is_a_background_skip_is_left_out(labelled, tmp_path):
    ids = {im.path: im.id for im in labelled.list_images()}
    labelled.set_image_flag(ids["nest/a.jpg"], "no_object")  # it has points: a negative all the same
    labelled.set_image_flag(ids["rot.jpg"], "skip")
    labelled.set_image_flag(ids["todo.jpg"], "no_object")  # no points at all
    report = export_yolo(labelled, tmp_path / "y", split_ratio=(1.0, 0.0))
    tree = _tree(tmp_path / "y")
    labels = {k: v for k, v in tree.items() if k.startswith("labels/")}
    assert labels["labels/train/todo.txt"] == b"" and sorted(labels.values()).count(b"") == 3, labels
    assert not any("rot" in k for k in tree)
    assert report.backgrounds == 3 and report.instances == 1  # park/a.jpg (all absent) is a background too
