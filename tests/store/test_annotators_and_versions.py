"""Who did what, and optimistic concurrency: on both backends (the ``project`` fixture)."""

from __future__ import annotations

import pytest

from labeler.store import ACCEPTED, MANUAL, PREDICTED, Project
from labeler.store.point_ops import EditConflict


def test_confirmed_edits_record_the_annotator_and_time(project, img):
    project.user = "ann"
    before = project.set_point(img, "nose", 1, 2)
    assert (before.annotator, before.version) == ("ann", 1)
    assert before.updated_at > 0
    with Project.open(project.location, user="bob") as bob:
        moved = bob.set_point(img, "nose", 3, 4)
    assert (moved.annotator, moved.version, moved.created_at) == ("bob", 2, before.created_at)


def test_predictions_have_no_annotator_and_accepting_records_one(project, img):
    project.user = "rev"
    project.write_predictions([(img, {"tail": (5.0, 5.0, 0.5)})], method="m", model=None)
    assert project.points(img)["tail"].annotator is None
    project.write_predictions([(img, {"tail": (6.0, 6.0, 0.5)})], method="m", model=None)
    assert project.points(img)["tail"].version == 2  # every write of the row counts
    assert project.accept_predictions([img]) == 1
    row = project.points(img)["tail"]
    assert (row.status, row.annotator, row.version) == (ACCEPTED, "rev", 3)


def test_counts_by_user(project, img):
    other = project.image_by_path("plain/b.png").id
    project.user = "ann"
    project.set_point(img, "nose", 1, 1)
    project.set_absent(img, "tail")
    project.user = "bob"
    project.set_point(other, "nose", 1, 1)
    project.write_predictions([(other, {"tail": (1.0, 1.0, 0.5)})], method="m", model=None)
    counts = project.counts_by_user()
    assert list(counts) == ["ann", "bob", None]
    assert counts["ann"][MANUAL] == 2 and counts["bob"][MANUAL] == 1 and counts[None][PREDICTED] == 1


def test_an_edit_from_an_older_version_is_refused_and_writes_nothing(project, img):
    project.user = "ann"
    seen = project.set_point(img, "nose", 1, 2)
    with Project.open(project.location, user="bob") as bob:
        bob.set_points(img, {"nose": (9, 9)}, expected_versions={"nose": seen.version})
    with pytest.raises(EditConflict, match=r"nose on plain/a.jpg was changed by bob at .* \(now manual, version 2\) "
                                           r"after you loaded it \(version 1\); nothing was saved: reload the image"):
        project.set_points(img, {"nose": (5, 5), "tail": (1, 1)}, expected_versions={"nose": seen.version, "tail": None})
    now = project.points(img)
    assert (now["nose"].x, now["nose"].annotator) == (9, "bob") and "tail" not in now
    # based on the current version, the edit goes through
    done = project.set_points(img, {"nose": (5, 5)}, expected_versions={"nose": now["nose"].version})
    assert (done["nose"].x, done["nose"].version, done["nose"].annotator) == (5, 3, "ann")


def test_a_point_added_meanwhile_or_removed_meanwhile_is_a_conflict(project, img):
    with Project.open(project.location, user="bob") as bob:
        bob.set_point(img, "tail", 1, 1)
        with pytest.raises(EditConflict, match="tail on plain/a.jpg was changed by bob"):
            project.set_points(img, {"tail": (2, 2)}, expected_versions={"tail": None})
        v = project.points(img)["tail"].version
        bob.delete_point(img, "tail")
    with pytest.raises(EditConflict, match="tail on plain/a.jpg was removed after you loaded it"):
        project.set_points(img, {"tail": (2, 2)}, expected_versions={"tail": v})


def test_a_prediction_replacing_a_prediction_conflicts_with_an_edit_based_on_the_old_one(project, img):
    project.write_predictions([(img, {"nose": (5.0, 5.0, 0.5)})], method="m", model=None)
    seen = project.points(img)["nose"]
    project.write_predictions([(img, {"nose": (6.0, 6.0, 0.9)})], method="m", model=None, signature="2")
    with pytest.raises(EditConflict, match=r"now predicted, version 2"):
        project.set_points(img, {"nose": (5.0, 5.0)}, status=ACCEPTED, expected_versions={"nose": seen.version})
