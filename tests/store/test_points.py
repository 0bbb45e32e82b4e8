"""A person's edits: bounds, names, provenance, review status, undo/redo."""

from __future__ import annotations

import math
import sqlite3

import pytest

from labeler.errors import UserInputError
from labeler.store import (
    ACCEPTED,
    CORRECTED,
    MANUAL,
    PARTIAL,
    PREDICTED,
    REVIEW_PREDICTED,
    REVIEWED,
    UNLABELED,
    Project,
)


@pytest.mark.sqlite_only
def test_set_point_is_committed_immediately(project, img):
    project.set_point(img, "nose", 10.25, 20.5)
    # another connection sees it at once: there is no "save"
    conn = sqlite3.connect(project.path)
    rows = conn.execute("SELECT x, y, visibility, status FROM point").fetchall()
    conn.close()
    assert rows == [(10.25, 20.5, 2, "manual")]
    with Project.open(project.path) as other:
        assert other.points(img)["nose"].x == 10.25


@pytest.mark.parametrize(("x", "y"), [(0, 0), (64, 48), (63.999, 0.001), (32.5, 47.9)])
def test_bounds_are_inclusive_of_the_image_edges(project, img, x, y):
    assert project.set_point(img, "nose", x, y).x == x


@pytest.mark.parametrize(("x", "y"), [(-0.001, 1), (64.01, 1), (1, 48.5), (math.nan, 1), (math.inf, 1), ("a", 1)])
def test_coordinates_outside_the_image_are_refused(project, img, x, y):
    with pytest.raises(UserInputError):
        project.set_point(img, "nose", x, y)
    assert project.points(img) == {}


def test_rotated_images_use_displayed_size(project):
    rot = project.image_by_path("exif/rot6.jpg")  # stored 60x40, displayed 40x60
    project.set_point(rot.id, "nose", 39, 59)
    with pytest.raises(UserInputError, match="outside"):
        project.set_point(rot.id, "nose", 59, 39)


def test_unknown_keypoint_and_image(project, img):
    with pytest.raises(UserInputError, match="unknown keypoint 'ear'; the schema has: nose, left_eye"):
        project.set_point(img, "ear", 1, 1)
    with pytest.raises(UserInputError, match="no image with id"):
        project.set_point(12345, "nose", 1, 1)


def test_set_points_is_all_or_nothing(project, img):
    with pytest.raises(UserInputError):
        project.set_points(img, {"nose": (1, 1), "left_eye": (999, 1)})
    with pytest.raises(UserInputError):
        project.set_points(img, {"nose": (1, 1), "ear": (1, 1)})
    with pytest.raises(UserInputError, match="no position yet"):
        project.set_points(img, {"nose": (1, 1), "tail": "occluded"})
    assert project.points(img) == {}


def test_absent_and_occluded(project, img):
    absent = project.set_absent(img, "tail")
    assert (absent.x, absent.y, absent.visibility, absent.status) == (None, None, 0, MANUAL)
    project.set_point(img, "nose", 5, 6)
    occ = project.set_occluded(img, "nose")
    assert (occ.x, occ.y, occ.visibility) == (5, 6, 1)
    occ2 = project.set_occluded(img, "left_eye", 7, 8)
    assert (occ2.x, occ2.y, occ2.visibility) == (7, 8, 1)
    assert project.set_point(img, "right_eye", 1, 1, visibility=0).visibility == 0
    with pytest.raises(UserInputError, match="visibility"):
        project.set_point(img, "right_eye", 1, 1, visibility=3)


def test_review_status_follows_the_points(project, img):
    assert project.image(img).review_status == UNLABELED
    project.set_point(img, "nose", 1, 1)
    assert project.image(img).review_status == PARTIAL
    project.write_predictions([(img, {"left_eye": (2, 2, 0.3)})], method="m", model=None)
    assert project.image(img).review_status == REVIEW_PREDICTED
    project.accept_predictions([img])
    assert project.image(img).review_status == PARTIAL
    project.set_points(img, {"right_eye": (3, 3), "tail": "absent"})
    assert project.image(img).review_status == REVIEWED
    project.delete_point(img, "tail")
    assert project.image(img).review_status == PARTIAL
    for name in ("nose", "left_eye", "right_eye"):
        project.delete_point(img, name)
    assert project.image(img).review_status == UNLABELED
    assert project.delete_point(img, "nose") is False


def test_correcting_a_prediction_keeps_the_original(project, img):
    project.write_predictions([(img, {"nose": (10, 10, 0.4), "tail": (20, 20, 0.9)})], method="dift", model="sd-2-1")
    fixed = project.correct_point(img, "nose", 12, 11)
    assert (fixed.x, fixed.y, fixed.status) == (12, 11, CORRECTED)
    assert (fixed.pred_x, fixed.pred_y, fixed.confidence, fixed.method, fixed.model) == (10, 10, 0.4, "dift", "sd-2-1")
    again = project.correct_point(img, "nose", 13, 11)  # a second drag keeps the first prediction
    assert (again.pred_x, again.pred_y) == (10, 10)
    # placing a point over a prediction is a correction too; at the same place it is an acceptance
    assert project.set_point(img, "tail", 20, 20).status == ACCEPTED
    assert project.set_point(img, "tail", 21, 20).status == CORRECTED
    # a prediction marked absent by the person is a correction
    project.write_predictions([(img, {"left_eye": (5, 5, 0.2)})], method="dift", model=None, partial=True)
    gone = project.set_absent(img, "left_eye")
    assert (gone.status, gone.visibility, gone.pred_x) == (CORRECTED, 0, 5)


def test_manual_points_carry_no_prediction_data(project, img):
    row = project.set_point(img, "nose", 3, 4, status=ACCEPTED)
    assert row.status == MANUAL and row.pred_x is None and row.confidence is None
    with pytest.raises(UserInputError, match="status"):
        project.set_point(img, "nose", 3, 4, status=PREDICTED)


def test_accept_predictions_filters(project, img):
    other = project.image_by_path("plain/b.png").id
    project.write_predictions(
        [
            (img, {"nose": (1, 1, 0.9), "left_eye": (2, 2, 0.2), "tail": (3, 3, None)}),
            (other, {"nose": (1, 1, 0.95), "left_eye": (2, 2, 0.1)}),
        ],
        method="m",
        model=None,
    )
    assert project.accept_predictions([img], names=["left_eye"]) == 1
    assert project.points(img)["left_eye"].status == ACCEPTED
    assert project.points(img)["left_eye"].pred_x == 2
    assert project.accept_predictions(min_confidence=0.9) == 2  # both noses; None never qualifies
    assert project.points(img)["tail"].status == PREDICTED
    assert project.accept_predictions() == 2
    assert project.counts().points_by_status[PREDICTED] == 0
    with pytest.raises(UserInputError, match="unknown keypoint"):
        project.accept_predictions(names=["ear"])


def test_swap_flip_pair(project, img):
    project.write_predictions([(img, {"left_eye": (10, 10, 0.5), "right_eye": (30, 10, 0.6)})], method="m", model=None)
    pts = project.swap_flip_pair(img, "right_eye")
    assert (pts["left_eye"].x, pts["left_eye"].status, pts["left_eye"].pred_x) == (30, CORRECTED, 10)
    assert (pts["right_eye"].x, pts["right_eye"].status, pts["right_eye"].pred_x) == (10, CORRECTED, 30)
    assert pts["left_eye"].confidence == 0.5
    # one side only: the point moves to the other keypoint
    other = project.image_by_path("plain/b.png").id
    project.set_point(other, "left_eye", 4, 4)
    pts = project.swap_flip_pair(other, "left_eye")
    assert set(pts) == {"right_eye"} and pts["right_eye"].status == MANUAL
    with pytest.raises(UserInputError, match="not in a flip pair"):
        project.swap_flip_pair(img, "nose")
    with pytest.raises(UserInputError, match="neither"):
        project.swap_flip_pair(project.image_by_path("plain/b.png").id + 1, "left_eye")


def test_snapshot_and_restore_are_exact(project, img):
    project.write_predictions([(img, {"nose": (10, 10, 0.4)})], method="dift", model="x")
    before = project.snapshot_point(img, "nose")
    project.correct_point(img, "nose", 20, 20)
    after = project.snapshot_point(img, "nose")
    project.restore_point(img, "nose", before)  # undo
    assert project.snapshot_point(img, "nose") == before
    assert project.image(img).review_status == REVIEW_PREDICTED
    project.restore_point(img, "nose", after)  # redo
    assert project.snapshot_point(img, "nose") == after
    assert project.snapshot_point(img, "tail") is None
    project.restore_point(img, "nose", None)  # undo of a first placement deletes the row
    assert project.points(img) == {}
    assert project.image(img).review_status == UNLABELED


def test_all_points_in_path_and_schema_order(project, img):
    other = project.image_by_path("exif/rot6.jpg").id
    project.set_points(img, {"tail": (1, 1), "nose": (2, 2)})
    project.write_predictions([(other, {"left_eye": (1, 1, 0.5)})], method="m", model=None)
    assert [(p.image_id, p.name) for p in project.all_points()] == [(other, "left_eye"), (img, "nose"), (img, "tail")]
    assert [p.name for p in project.all_points(statuses=[MANUAL])] == ["nose", "tail"]
