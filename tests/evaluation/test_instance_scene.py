"""Several objects per image, measured: a scene of one real object pasted at known places, sizes
and flips (labeler.evaluation.instance_scene); one copy labelled, every copy boxed, propagated
with the classical matcher; per-instance PCK and COCO OKS AP through pycocotools' COCOeval, also
read back from the project's COCO export (one annotation per instance with its own bbox)."""

from __future__ import annotations

import json

import pytest

from labeler.evaluation.instance_metrics import coco_oks_ap
from labeler.evaluation.instance_scene import KEYPOINTS, SIZE, run_scene
from labeler.formats.coco import export_coco


def test_each_boxed_object_is_found_and_the_export_scores_the_same(tmp_path):
    result, project = run_scene(tmp_path / "boxes")
    try:
        assert len(result.pck) == 6
        assert min(result.pck) >= 0.75 and sum(result.pck) / 6 >= 0.9  # measured: 1.0 on all six
        assert result.ap >= 0.8  # measured: 1.0
        out = tmp_path / "coco.json"
        export_coco(project, out, predicted=True)
        data = json.loads(out.read_text())
        names = data["categories"][0]["keypoints"]
        anns = data["annotations"]
        assert len(anns) == 7 and len({a["id"] for a in anns}) == 7  # one per instance, ids unique
        boxed = [a for a in anns if a.get("box_source") == "drawn"]
        assert len(boxed) == 7 and all(a["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3]) for a in boxed)
        truth, preds = [], []
        from labeler.evaluation.instance_scene import make_scene

        objects = make_scene(tmp_path / "again")
        by_file = {im["file_name"]: im["id"] for im in data["images"]}
        for a in anns:
            pts = {n: (a["keypoints"][3 * k], a["keypoints"][3 * k + 1]) for k, n in enumerate(names) if a["keypoints"][3 * k + 2] > 0}
            if set(a["keypoint_status"]) == {"manual"}:
                continue  # the labelled reference
            preds.append((a["image_id"], pts, sum(a["keypoint_scores"]) / len(names)))
        for obj in objects[1:]:
            truth.append((by_file[obj.image], obj.box, obj.points))
        assert coco_oks_ap(tuple(KEYPOINTS), truth, preds, {i: SIZE for i in by_file.values()}) == pytest.approx(result.ap)
    finally:
        project.close()


def test_without_boxes_an_image_gets_one_prediction_so_most_objects_are_missed(tmp_path):
    result, project = run_scene(tmp_path, with_boxes=False)
    project.close()
    assert result.ap < 0.5  # measured: 0.28 (one object per image found)


def test_coco_eval_gives_the_expected_ap_for_one_object_missed():
    """4 objects, 3 predicted exactly, 1 far off with the lowest score: precision 1 up to recall
    0.75, then 0, so COCO's 101-point AP is 76/101 at every OKS threshold."""
    names = ("a", "b", "c")
    box = (10.0, 10.0, 40.0, 40.0)
    pts = {"a": (15.0, 15.0), "b": (30.0, 30.0), "c": (45.0, 20.0)}
    truth = [(1, box, pts), (1, (60.0, 10.0, 40.0, 40.0), {k: (x + 50, y) for k, (x, y) in pts.items()}),
             (2, box, pts), (2, (60.0, 10.0, 40.0, 40.0), {k: (x + 50, y) for k, (x, y) in pts.items()})]
    preds = [(i, p, 0.9) for i, _, p in truth[:3]] + [(2, {k: (x + 20, y + 25) for k, (x, y) in truth[3][2].items()}, 0.1)]
    assert coco_oks_ap(names, truth, preds, {1: (128, 64), 2: (128, 64)}) == pytest.approx(76 / 101)
