"""Undo of a bulk edit: restore_points puts every row back exactly, in a few set-based statements."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from labeler.errors import UserInputError
from labeler.store import ABSENT, OCCLUDED, PREDICTED, Project


def _state(project: Project) -> tuple[dict, dict]:
    points = {(p.image_id, p.name): p for p in project.all_points()}
    reviews = {i: status for i, _, status in project.image_index()}
    return points, reviews


def _mixed_project(project: Project) -> list[int]:
    """Predictions (with known and unknown confidence) on every image, plus confirmed rows of
    every kind (manual, absent, occluded, corrected) on some."""
    ids = sorted(i for i, _, _ in project.image_index())
    names = project.schema().keypoints
    items = []
    for n, image_id in enumerate(ids):
        pts = {name: (1.0 + j + n, 2.0 + j, None if (n + j) % 5 == 0 else 0.1 * (j + 1)) for j, name in enumerate(names)}
        if n % 4 == 3:
            pts.pop("tail")  # some keypoints not labelled at all
        items.append((image_id, pts))
    project.write_predictions(items, method="dift", model="tiny")
    project.set_point(ids[0], "nose", 5, 6)  # corrected (came from a prediction)
    project.set_absent(ids[1], "left_eye")
    project.set_occluded(ids[2], "right_eye")
    project.set_point(ids[3], "tail", 3, 3)  # manual (no prediction there)
    return ids


@pytest.fixture
def counted(project):
    """Count the SQL statements sent to SQLite (an executemany counts once)."""
    seen: list[str] = []

    def hook(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(project._engine, "before_cursor_execute", hook)
    yield seen
    event.remove(project._engine, "before_cursor_execute", hook)


def test_undo_of_a_bulk_edit_restores_points_statuses_visibility_confidence(project):
    ids = _mixed_project(project)
    names = project.schema().keypoints
    points_before, reviews_before = _state(project)
    assert {p.status for p in points_before.values()} >= {PREDICTED, "manual", "corrected"}
    assert {p.visibility for p in points_before.values()} >= {ABSENT, OCCLUDED}
    assert any(p.confidence is None for p in points_before.values())
    keys = [(i, n) for i in ids for n in names]
    snapshot = [(i, n, points_before.get((i, n))) for i, n in keys]
    # the bulk edit: accept everything, then move, remove and add points
    assert project.accept_predictions(ids) > 0
    project.set_point(ids[5], "nose", 9, 9)
    project.delete_point(ids[6], "left_eye")
    project.set_point(ids[7], "tail", 4, 4)  # a row where there was none
    assert _state(project) != (points_before, reviews_before)

    project.restore_points(snapshot)
    assert _state(project) == (points_before, reviews_before)

    # and redo of the edit's own snapshot is exact too
    points_after_edit = {(p.image_id, p.name): p for p in project.all_points()}
    assert points_after_edit == points_before


def test_restore_points_is_set_based(project, counted):
    ids = _mixed_project(project)
    names = project.schema().keypoints
    points_before, _ = _state(project)
    project.accept_predictions(ids)
    snapshot = [(i, n, points_before.get((i, n))) for i in ids for n in names]
    assert len(snapshot) >= 40
    counted.clear()
    project.restore_points(snapshot)
    # a fixed handful of statements, not one (or two) per row or per image (instances: the
    # snapshots' instances checked, the first instances of rows going back to "not labelled",
    # the review status of instances then images)
    assert len(counted) <= 13, counted
    assert _state(project)[0] == points_before


def test_restore_points_checks_everything_before_writing(project):
    ids = _mixed_project(project)
    points_before, reviews_before = _state(project)
    good = (ids[0], "nose", None)
    with pytest.raises(UserInputError, match="no image with id 99999"):
        project.restore_points([good, (99999, "nose", None)])
    with pytest.raises(UserInputError, match="unknown keypoint 'ear'"):
        project.restore_points([good, (ids[1], "ear", None)])
    assert _state(project) == (points_before, reviews_before)
