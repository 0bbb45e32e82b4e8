"""Predictions: never over a person's point, replaced by newer runs, signatures, review queue."""

from __future__ import annotations

import math

import pytest

from labeler.errors import UserInputError
from labeler.store import ACCEPTED, MANUAL, PREDICTED, REVIEW_PREDICTED, REVIEWED
from labeler.store.core import now
from labeler.store.prediction_ops import upsert_predictions_stmt


def test_prediction_never_overwrites_confirmed(project, img):
    project.set_point(img, "nose", 1, 2)
    project.set_absent(img, "tail")
    project.write_predictions([(img, {"left_eye": (9, 9, 0.5)})], method="m", model=None)
    project.accept_predictions([img])
    report = project.write_predictions(
        [(img, {"nose": (50, 40, 0.99), "tail": (5, 5, 0.9), "left_eye": (8, 8, 0.9), "right_eye": (7, 7, 0.1)})],
        method="m",
        model=None,
    )
    assert report.kept_confirmed == 3 and report.written == 1
    pts = project.points(img)
    assert (pts["nose"].x, pts["nose"].status) == (1, MANUAL)
    assert (pts["tail"].visibility, pts["tail"].x) == (0, None)
    assert (pts["left_eye"].x, pts["left_eye"].status) == (9, ACCEPTED)
    assert (pts["right_eye"].x, pts["right_eye"].status) == (7, PREDICTED)


def test_the_rule_holds_in_sql_itself(project, img):
    """Even a writer that skips the Python-side check cannot replace a confirmed row."""
    project.set_point(img, "nose", 1, 2)
    kp = dict(project._sessions.read().execute(__import__("sqlalchemy").text("SELECT name, id FROM keypoint")).all())
    row = {
        "image_id": img, "keypoint_id": kp["nose"], "x": 30.0, "y": 30.0, "visibility": 2, "status": PREDICTED,
        "confidence": 0.9, "method": "m", "model": None, "pred_x": None, "pred_y": None,
        "created_at": now(), "updated_at": now(), "instance_id": project.instances(img)[0].id,
    }
    with project._write() as s, s.begin():
        s.execute(upsert_predictions_stmt(s), [row])
    assert project.points(img)["nose"].x == 1 and project.points(img)["nose"].status == MANUAL


def test_newer_run_replaces_older_predictions(project, img):
    project.write_predictions([(img, {"nose": (1, 1, 0.1), "tail": (2, 2, 0.2)})], method="a", model="m1", signature="s1")
    first = project.points(img)["nose"]
    report = project.write_predictions([(img, {"nose": (3, 3, 0.3)})], method="b", model="m2", signature="s2")
    assert report.removed == 1  # tail was not predicted by the new run
    pts = project.points(img)
    assert set(pts) == {"nose"}
    assert (pts["nose"].x, pts["nose"].method, pts["nose"].model, pts["nose"].confidence) == (3, "b", "m2", 0.3)
    assert pts["nose"].created_at == first.created_at
    project.write_predictions([(img, {"tail": (4, 4, 0.4)})], method="b", model="m2", partial=True)
    assert set(project.points(img)) == {"nose", "tail"}


def test_signatures_and_images_to_predict(project, img):
    other = project.image_by_path("plain/b.png").id
    n = project.image_count()
    assert len(project.images_to_predict("s1")) == n
    project.write_predictions([(img, {"nose": (1, 1, 0.5)}), (other, {}, True)], method="dift", model="m", preset="fast", signature="s1")
    rec = project.image(other)
    assert (rec.pred_signature, rec.pred_method, rec.pred_model, rec.pred_preset, rec.pred_flipped) == ("s1", "dift", "m", "fast", True)
    assert project.image(img).pred_flipped is False
    todo = project.images_to_predict("s1")
    assert img not in todo and other not in todo and len(todo) == n - 2
    assert img in project.images_to_predict("s2")  # stale under new settings
    assert project.prediction_signatures()[img] == "s1"
    # reviewed images need no prediction
    project.set_points(img, {k: (1, 1) for k in project.schema().keypoints})
    assert img not in project.images_to_predict("s2")


def test_batch_validation_is_atomic(project, img):
    with pytest.raises(UserInputError, match="unknown keypoint"):
        project.write_predictions([(img, {"nose": (1, 1, 0.5)}), (img + 1, {"ear": (1, 1, 0.5)})], method="m", model=None)
    with pytest.raises(UserInputError, match="no image with id"):
        project.write_predictions([(img, {"nose": (1, 1, 0.5)}), (99999, {})], method="m", model=None)
    with pytest.raises(UserInputError, match="finite"):
        project.write_predictions([(img, {"nose": (math.nan, 1, 0.5)})], method="m", model=None)
    with pytest.raises(UserInputError, match="twice"):
        project.write_predictions([(img, {}), (img, {})], method="m", model=None)
    assert project.counts().points == 0
    assert project.image(img).pred_signature is None


def test_predictions_are_clipped_into_the_image(project, img):
    report = project.write_predictions([(img, {"nose": (64.4, -0.2, 0.5), "tail": (3, 3, math.nan)})], method="m", model=None)
    assert report.clipped == 1
    pts = project.points(img)
    assert (pts["nose"].x, pts["nose"].y) == (64.0, 0.0)
    assert pts["tail"].confidence is None


def test_clear_predictions(project, img):
    other = project.image_by_path("plain/b.png").id
    project.set_point(img, "tail", 1, 1)
    project.write_predictions([(img, {"nose": (1, 1, 0.5)}), (other, {"nose": (1, 1, 0.5)})], method="m", model=None, signature="s")
    assert project.clear_predictions([other]) == 1
    assert project.image(other).pred_signature is None and project.image(img).pred_signature == "s"
    assert project.clear_predictions() == 1
    assert [p.name for p in project.all_points()] == ["tail"]


def test_review_queue_least_confident_first(project):
    ids = [i for i, _, _ in project.image_index()][:4]
    project.write_predictions(
        [
            (ids[0], {"nose": (1, 1, 0.9), "tail": (1, 1, 0.8)}),
            (ids[1], {"nose": (1, 1, 0.2), "tail": (1, 1, 0.95)}),
            (ids[2], {"nose": (1, 1, None)}),
            (ids[3], {"nose": (1, 1, 0.5)}),
        ],
        method="m",
        model=None,
    )
    queue = project.review_queue()
    assert [q.image_id for q in queue] == [ids[2], ids[1], ids[3], ids[0]]
    assert queue[1].min_confidence == 0.2 and queue[1].n_predicted == 2
    assert queue[0].min_confidence is None
    assert [q.image_id for q in project.review_queue(limit=2)] == [ids[2], ids[1]]
    points = project.review_points(limit=3)
    assert [(p.image_id, p.confidence) for p in points] == [(ids[2], None), (ids[1], 0.2), (ids[3], 0.5)]
    assert [p.name for p in project.review_points(image_ids=[ids[0]])] == ["tail", "nose"]


def test_references_are_confirmed_points_only(project, img):
    other = project.image_by_path("plain/b.png").id
    project.set_points(img, {"nose": (1, 2), "tail": "absent", "left_eye": (3, 4, 1)})
    project.write_predictions([(other, {"nose": (5, 5, 0.9)})], method="m", model=None)
    refs = project.references()
    assert len(refs) == 1
    ref = refs[0]
    assert (ref.image_id, ref.path, ref.width, ref.height) == (img, "plain/a.jpg", 64, 48)
    assert dict(ref.points) == {"nose": (1, 2, 2), "left_eye": (3, 4, 1)}
    with_absent = project.references(include_absent=True)[0].points
    assert math.isnan(with_absent["tail"][0]) and with_absent["tail"][2] == 0
    project.accept_predictions([other])
    assert [r.image_id for r in project.references(image_ids=[other])] == [other]


def test_review_status_of_predicted_images(project, img):
    project.write_predictions([(img, {k: (1, 1, 0.5) for k in project.schema().keypoints})], method="m", model=None)
    assert project.image(img).review_status == REVIEW_PREDICTED
    project.accept_predictions()
    assert project.image(img).review_status == REVIEWED


def test_review_points_are_whole_records_in_queue_order(project):
    """review_points builds records from a column select (fast for 340k predictions): every field
    must equal the row as points() reads it; order: unknown confidence first, then ascending,
    ties by image path then schema order; confirmed points never listed."""
    ids = [i for i, _, _ in project.image_index()][:3]
    project.write_predictions(
        [
            (ids[0], {"tail": (3.5, 4.25, 0.5), "nose": (1, 2, 0.5), "left_eye": (5, 6, None)}),
            (ids[1], {"nose": (7, 8, 0.1), "right_eye": (9, 10, 0.5)}),
            (ids[2], {"nose": (1, 1, 0.3)}),
        ],
        method="classical",
        model="m",
    )
    project.accept_predictions([ids[2]])
    points = project.review_points()
    assert [(p.image_id, p.name, p.confidence) for p in points] == [
        (ids[0], "left_eye", None),
        (ids[1], "nose", 0.1),
        (ids[0], "nose", 0.5),
        (ids[0], "tail", 0.5),
        (ids[1], "right_eye", 0.5),
    ]
    stored = {(i, n): r for i in ids for n, r in project.points(i).items()}
    assert all(p == stored[(p.image_id, p.name)] for p in points)
    tail = stored[(ids[0], "tail")]
    assert (tail.x, tail.y, tail.visibility, tail.status, tail.method, tail.model) == (3.5, 4.25, 2, PREDICTED, "classical", "m")
    assert tail.created_at > 0 and tail.updated_at >= tail.created_at
    assert project.all_points(statuses=[PREDICTED]) == sorted(points, key=lambda p: (project.image(p.image_id).path,
                                                                                   project.schema().keypoints.index(p.name)))
