"""Several objects per image through the formats, both ways: COCO (one annotation per instance)
and YOLO pose (one row per instance with its real box) export and import back into a new
project as the same instances, boxes and points."""

from __future__ import annotations

import json

import pytest

from labeler.evaluation.instance_scene import FLIP_PAIRS, KEYPOINTS, make_scene
from labeler.formats.coco import export_coco, import_coco
from labeler.formats.yolo import export_yolo, import_yolo
from labeler.store import Project
from labeler.store.relpaths import relative_to_root
from labeler.store.scanning import find_image_files, probe_files

LAYOUT = {"a.png": [(20, 40, 120, False), (250, 120, 160, True)], "b.png": [(300, 20, 130, True)]}


def _project(folder, *, labelled: bool):
    objects = make_scene(folder / "images", LAYOUT)
    root = folder / "images"
    probed, _ = probe_files([(f, relative_to_root(f, root) or f.name) for f in find_image_files(root)], progress=False)
    project = Project.create(folder / "p.labeler", root, tuple(KEYPOINTS), (), FLIP_PAIRS, images=probed)
    if labelled:
        ids = {im.path: im.id for im in project.list_images()}
        seen: set[str] = set()
        for obj in objects:
            image_id = ids[obj.image]
            if obj.image in seen:
                inst = project.add_instance(image_id, box=obj.box, name="second")
            else:
                (inst,) = project.instances(image_id) or [project.add_instance(image_id)]
                inst = project.set_box(inst.id, obj.box)
                seen.add(obj.image)
            project.set_points(image_id, dict(obj.points), instance_id=inst.id)
    return project


def _objects(project):
    out = []
    for im in project.list_images():
        for inst in project.instances(im.id):
            pts = {n: (round(p.x, 3), round(p.y, 3)) for n, p in project.points(im.id, inst.id).items()}
            out.append((im.path, tuple(round(v, 2) for v in inst.box) if inst.box else None, pts))
    return sorted(out, key=str)


def test_coco_round_trip_keeps_every_instance_its_box_and_name(tmp_path):
    src = _project(tmp_path / "src", labelled=True)
    export_coco(src, tmp_path / "c.json")
    data = json.loads((tmp_path / "c.json").read_text())
    assert [a["image_id"] for a in data["annotations"]] == [1, 1, 2]
    assert [a["num_keypoints"] for a in data["annotations"]] == [4, 4, 4]
    assert data["annotations"][1]["instance_name"] == "second"
    dst = _project(tmp_path / "dst", labelled=False)
    report = import_coco(dst, tmp_path / "c.json")
    assert _objects(dst) == _objects(src)
    # the merge counts are the first objects' (8 points); the second object's 4 are said in a note
    assert report.merge.written == 8
    assert "1 further object(s) on 1 image(s): their 4 point(s)" in " ".join(report.notes)
    export_coco(dst, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "c.json").read_bytes()
    src.close()
    dst.close()


def test_yolo_writes_one_row_per_instance_with_its_box_and_reads_them_back(tmp_path):
    src = _project(tmp_path / "src", labelled=True)
    export_yolo(src, tmp_path / "yolo", split_ratio=(1.0,))
    rows = {p.name: p.read_text().splitlines() for p in (tmp_path / "yolo" / "labels").rglob("*.txt")}
    assert sorted(len(r) for r in rows.values()) == [1, 2]
    first = [float(v) for v in rows["a.txt"][0].split()]
    assert first[1:5] == pytest.approx([(20 + 60) / 480, (40 + 60) / 360, 120 / 480, 120 / 360], abs=1e-6)
    dst = _project(tmp_path / "dst", labelled=False)
    import_yolo(dst, tmp_path / "yolo")
    got, want = _objects(dst), _objects(src)
    # a single row's box cannot be told from a derived one: one-object images import as before
    assert [(p, b) for p, b, _ in got] == [(p, b if p == "a.png" else None) for p, b, _ in want]
    for (_, _, a), (_, _, b) in zip(got, want, strict=True):
        assert a.keys() == b.keys() and all(a[n] == pytest.approx(b[n], abs=2e-3) for n in a)  # six decimals of the size
    src.close()
    dst.close()


def test_deeplabcut_multi_animal_is_read_by_pandas_as_deeplabcut_does_and_imports_back(tmp_path):
    import pandas as pd
    import yaml

    from labeler.formats.dlc import export_dlc, import_dlc, pandas_available

    src = _project(tmp_path / "src", labelled=True)
    report = export_dlc(src, tmp_path / "dlc")
    csv_path = report.csv_files[0]
    frame = pd.read_csv(csv_path, header=[0, 1, 2, 3], index_col=[0, 1, 2])  # deeplabcut's read of CollectedData
    assert frame.columns.names == [None] * 4 or list(frame.columns.levels[1])  # four header levels
    individuals = list(dict.fromkeys(frame.columns.get_level_values(1)))
    assert individuals == ["individual1", "second"]
    row = frame.loc[("labeled-data", frame.index[0][1], "a.png")]
    assert row[("labeler", "individual1", "nose", "x")] == pytest.approx(src.points(src.image_by_path("a.png").id)["nose"].x)
    cfg = yaml.safe_load((tmp_path / "dlc" / "config.yaml").read_text())
    assert cfg["multianimalproject"] is True and cfg["individuals"] == individuals
    assert cfg["multianimalbodyparts"] == list(KEYPOINTS) and cfg["bodyparts"] == "MULTI!"
    if pandas_available():
        h5 = pd.read_hdf(csv_path.with_suffix(".h5"))
        assert h5.columns.nlevels == 4 and h5.shape == frame.shape
    dst = _project(tmp_path / "dst", labelled=False)
    import_dlc(dst, csv_path)
    a = dst.image_by_path("a.png").id
    assert [i.name for i in dst.instances(a)] == ["individual1", "second"]
    want = {n: (p.x, p.y) for n, p in src.points(a, src.instances(a)[1].id).items()}
    got = {n: (p.x, p.y) for n, p in dst.points(a, dst.instances(a)[1].id).items()}
    assert got.keys() == want.keys() and all(got[n] == pytest.approx(want[n]) for n in got)
    src.close()
    dst.close()


def test_sleap_slp_written_and_read_by_sleap_io_user_and_predicted_instances(tmp_path):
    import sleap_io as sio  # the dev extra has it

    from labeler.formats.sleap import export_sleap, import_sleap

    src = _project(tmp_path / "src", labelled=True)
    b = src.image_by_path("b.png").id
    extra = src.add_instance(b, box=(10, 10, 100, 100))
    src.write_predictions([(b, {"nose": (50.0, 60.0, 0.75), "brow": (40.0, 30.0, 0.25)}, False, extra.id)],
                          method="m", model=None)
    assert export_sleap(src, tmp_path / "x.slp", predicted=True) == 4
    labels = sio.load_slp(str(tmp_path / "x.slp"), open_videos=False)
    assert labels.skeletons[0].node_names == list(KEYPOINTS)
    kinds = sorted(type(i).__name__ for lf in labels.labeled_frames for i in lf.instances)
    assert kinds == ["Instance", "Instance", "Instance", "PredictedInstance"]
    pred = next(i for lf in labels.labeled_frames for i in lf.instances if isinstance(i, sio.PredictedInstance))
    assert pred.score == pytest.approx(0.5) and pred.numpy(scores=True)[2].tolist() == pytest.approx([50, 60, 0.75])
    dst = _project(tmp_path / "dst", labelled=False)
    import_sleap(dst, tmp_path / "x.slp")
    a = dst.image_by_path("a.png").id
    assert len(dst.instances(a)) == 2
    want = {n: (p.x, p.y) for n, p in src.points(a, src.instances(a)[1].id).items()}
    got = {n: (p.x, p.y, p.status) for n, p in dst.points(a, dst.instances(a)[1].id).items()}
    assert got.keys() == want.keys() and {v[2] for v in got.values()} == {"manual"}
    assert all(got[n][:2] == pytest.approx(want[n]) for n in got)
    # the predicted instance came back as predictions with their scores, into b's own instance
    preds = [p for p in dst.all_points(statuses=["predicted"]) if p.image_id == dst.image_by_path("b.png").id]
    assert sorted((p.name, p.confidence) for p in preds) == [("brow", 0.25), ("nose", 0.75)]
    src.close()
    dst.close()


@pytest.mark.parametrize("predicted", [False, True])
def test_sleap_no_object_image_is_a_negative_frame_and_imports_back_flagged(tmp_path, predicted):
    """A *no object* image is a negative in COCO, a background image in YOLO and an all-empty row
    in DeepLabCut; in SLEAP it is a negative frame (``LabeledFrame.is_negative``, no instances),
    which the import turns back into the flag. A skipped image stays out, as everywhere."""
    import sleap_io as sio  # the dev extra has it

    from labeler.formats.sleap import export_sleap, import_sleap

    src = _project(tmp_path / "src", labelled=True)
    b = src.image_by_path("b.png").id
    src.set_image_flag(b, "no_object")  # it holds points: a negative whatever it holds
    export_sleap(src, tmp_path / "x.slp", predicted=predicted)
    labels = sio.load_slp(str(tmp_path / "x.slp"), open_videos=False)
    frames = {lf.video.filename[lf.frame_idx].rsplit("/", 1)[-1]: lf for lf in labels.labeled_frames}
    assert sorted(frames) == ["a.png", "b.png"]
    assert frames["b.png"].is_negative and not frames["b.png"].instances
    assert not frames["a.png"].is_negative and frames["a.png"].instances
    dst = _project(tmp_path / "dst", labelled=False)
    import_sleap(dst, tmp_path / "x.slp")
    assert dst.image_flags() == {dst.image_by_path("b.png").id: "no_object"}
    export_sleap(dst, tmp_path / "y.slp", predicted=predicted)
    again = sio.load_slp(str(tmp_path / "y.slp"), open_videos=False)
    assert [(lf.frame_idx, lf.is_negative, len(lf.instances)) for lf in again.labeled_frames] == \
        [(lf.frame_idx, lf.is_negative, len(lf.instances)) for lf in labels.labeled_frames]
    src.set_image_flag(b, "skip")
    export_sleap(src, tmp_path / "z.slp")
    skipped = sio.load_slp(str(tmp_path / "z.slp"), open_videos=False)
    assert len(skipped.labeled_frames) == 1 and not skipped.labeled_frames[0].is_negative
    src.close()
    dst.close()


@pytest.mark.parametrize("unboxed", [(0,), (1,), (0, 1), (2,)])
def test_coco_round_trip_is_byte_identical_when_some_objects_have_no_box(tmp_path, unboxed):
    """An object without a box is written with the points' bbox (and no ``box_source``); the
    import must not turn that bbox into an "imported" box, or export -> import -> export differs
    (found with a project whose image had its first, box-less object and two drawn ones)."""
    src = _project(tmp_path / "src", labelled=True)
    instances = [i for im in src.list_images() for i in src.instances(im.id)]
    for k in unboxed:
        src.set_box(instances[k].id, None)
    export_coco(src, tmp_path / "c.json")
    dst = _project(tmp_path / "dst", labelled=False)
    import_coco(dst, tmp_path / "c.json")
    assert _objects(dst) == _objects(src)
    export_coco(dst, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "c.json").read_bytes()
    src.close()
    dst.close()
