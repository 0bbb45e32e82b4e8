"""Review goes object by object: on an image with several objects Space and the W walk go to
the image's next object awaiting review (least confident first) before the next image."""

from __future__ import annotations

import pytest
from gui_helpers import key, wait_shown
from PyQt6.QtCore import Qt

from labeler.store import ACCEPTED, PREDICTED, Project


def _objects(project_path, confidences):
    """Images 1 and 2 get one object per confidence (nose and tail predicted at it)."""
    made = {}
    with Project.open(project_path) as p:
        ids = [r[0] for r in p.image_index()]
        for k, confs in confidences.items():
            image = ids[k]
            objs = [p.add_instance(image, box=(2 + 20 * j, 2, 18, 18)).id for j in range(len(confs))]
            p.write_predictions([(image, {"nose": (5.0 + 20 * j, 5.0, c), "tail": (10.0 + 20 * j, 15.0, min(1.0, c + 0.02))},
                                  False, o) for j, (o, c) in enumerate(zip(objs, confs))], method="m", model=None)
            made[image] = objs
    return ids, made


def _status(project_path, image, instance):
    with Project.open(project_path) as p:
        return {r.status for r in p.points(image, instance).values()}


@pytest.mark.parametrize("shift", [False, True])
def test_space_accepts_object_by_object_least_confident_first_then_the_next_image(qtbot, make_window, project_path, shift):
    ids, made = _objects(project_path, {1: (0.95, 0.7, 0.85), 2: (0.9, 0.6)})
    window = make_window(project_path)
    wait_shown(qtbot, window)
    window.show_image(ids[1])
    wait_shown(qtbot, window)
    a1, a2, a3 = made[ids[1]]
    modifier = Qt.KeyboardModifier.ShiftModifier if shift else Qt.KeyboardModifier.NoModifier
    visited = [window.instances.current]
    for _ in range(3):
        key(qtbot, window, Qt.Key.Key_Space, modifier)
        wait_shown(qtbot, window)
        visited.append((window.current.id, window.instances.current))
    assert visited[0] == a2  # opens at the least confident object
    assert visited[1:3] == [(ids[1], a3), (ids[1], a1)]  # then the next least confident, same image
    assert visited[3] == (ids[2], made[ids[2]][1])  # only then the next image, at its least confident
    assert all(_status(project_path, ids[1], o) == {ACCEPTED} for o in (a1, a2, a3))
    assert _status(project_path, ids[2], made[ids[2]][0]) == {PREDICTED}  # nothing accepted ahead
    assert window.canvas.drawn_points()["nose"].pos().x() == pytest.approx(25.0, abs=0.5)  # its points shown


def test_w_walks_the_low_points_of_every_object_before_the_next_image(qtbot, make_window, project_path):
    ids, made = _objects(project_path, {1: (0.2, 0.9, 0.1), 2: (0.3,)})
    window = make_window(project_path)
    window.review_panel.threshold_spin.setValue(0.5)
    wait_shown(qtbot, window)
    window.show_image(ids[1])
    wait_shown(qtbot, window)
    b1, _, b3 = made[ids[1]]
    stops = []
    for _ in range(6):
        key(qtbot, window, Qt.Key.Key_W)
        wait_shown(qtbot, window)
        stops.append((window.current.id, window.instances.current, window.point_review.at[1]))
    # b3 (0.1) then b1 (0.2), nose then tail each; the sure object is skipped; at the image's
    # last low point W once says predictions still await review here (and stays); then the next image
    assert stops == [(ids[1], b3, "nose"), (ids[1], b3, "tail"), (ids[1], b1, "nose"), (ids[1], b1, "tail"),
                     (ids[1], b1, "tail"), (ids[2], made[ids[2]][0], "nose")]
    # C on the walked point accepts it in the object it belongs to, and the walk goes on
    window.show_image(ids[1])
    wait_shown(qtbot, window)
    key(qtbot, window, Qt.Key.Key_W)
    before = (window.instances.current, window.point_review.at[1])
    key(qtbot, window, Qt.Key.Key_C)
    with Project.open(project_path) as p:
        assert p.points(ids[1], before[0])[before[1]].status == ACCEPTED


def test_space_on_one_object_is_undone_alone(qtbot, make_window, project_path):
    ids, made = _objects(project_path, {1: (0.9, 0.7)})
    window = make_window(project_path)
    wait_shown(qtbot, window)
    window.show_image(ids[1])
    wait_shown(qtbot, window)
    sure, unsure = made[ids[1]]
    key(qtbot, window, Qt.Key.Key_Space)
    assert window.instances.current == sure  # on to the image's other object
    assert _status(project_path, ids[1], unsure) == {ACCEPTED} and _status(project_path, ids[1], sure) == {PREDICTED}
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: _status(project_path, ids[1], unsure) == {PREDICTED})
    assert _status(project_path, ids[1], sure) == {PREDICTED}


def test_shift_w_walks_back_through_the_objects_and_i_does_not_confuse_the_walk(qtbot, make_window, project_path):
    ids, made = _objects(project_path, {1: (0.2, 0.1)})
    window = make_window(project_path)
    window.review_panel.threshold_spin.setValue(0.5)
    wait_shown(qtbot, window)
    window.show_image(ids[1])
    wait_shown(qtbot, window)
    b1, b2 = made[ids[1]]
    for _ in range(3):
        key(qtbot, window, Qt.Key.Key_W)
    assert (window.instances.current, window.point_review.at[1]) == (b1, "nose")
    key(qtbot, window, Qt.Key.Key_W, Qt.KeyboardModifier.ShiftModifier)  # back to the first object's last low point
    assert (window.instances.current, window.point_review.at[1]) == (b2, "tail")
    key(qtbot, window, Qt.Key.Key_I)  # the other object by hand: W starts at its first low point
    key(qtbot, window, Qt.Key.Key_W)
    assert (window.instances.current, window.point_review.at[1]) == (b1, "nose")
