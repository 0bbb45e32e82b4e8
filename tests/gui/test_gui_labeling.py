"""Placing, moving, occluding, absent, swap and undo/redo by simulated mouse and keys."""

from __future__ import annotations

import pytest
from gui_helpers import click_image, drag_point, key, tolerance, wait_shown
from PyQt6.QtCore import QPoint, Qt

from labeler.store import ABSENT, CORRECTED, MANUAL, OCCLUDED, PREDICTED, VISIBLE, Project


def stored(window):
    with Project.open(window.project.path) as p:  # a second connection: what is on disk
        return p.points(window.current.id)


def test_click_places_current_keypoint_and_advances(qtbot, window):
    wait_shown(qtbot, window)
    assert window.current_keypoint == "nose"
    click_image(qtbot, window, 20.5, 30.25)
    rows = stored(window)
    assert set(rows) == {"nose"}
    assert rows["nose"].x == pytest.approx(20.5, abs=tolerance(window))
    assert rows["nose"].y == pytest.approx(30.25, abs=tolerance(window))
    assert rows["nose"].status == MANUAL and rows["nose"].visibility == VISIBLE
    assert window.current_keypoint == "left_eye"  # auto-advance to the next unlabelled one
    assert "nose" in window.canvas.drawn_points()
    assert window.keypoints.status_of("nose") == "placed"
    click_image(qtbot, window, 40, 20, Qt.KeyboardModifier.ShiftModifier)
    assert stored(window)["left_eye"].visibility == OCCLUDED


def test_number_keys_pick_keypoint_and_click_outside_image_does_nothing(qtbot, window):
    wait_shown(qtbot, window)
    key(qtbot, window, Qt.Key.Key_3)
    assert window.current_keypoint == "right_eye"
    assert window.keypoints.current == "right_eye"
    window.canvas.zoom_by(0.3)
    click_image(qtbot, window, -20, 10)
    assert stored(window) == {}
    key(qtbot, window, Qt.Key.Key_9)  # no 9th keypoint: unchanged
    assert window.current_keypoint == "right_eye"


def test_drag_moves_point_and_undo_redo_restore_exactly(qtbot, window):
    wait_shown(qtbot, window)
    click_image(qtbot, window, 30, 30)
    before = stored(window)["nose"]
    drag_point(qtbot, window, (30, 30), (60, 45))
    after = stored(window)["nose"]
    assert after.x == pytest.approx(60, abs=2 * tolerance(window))
    assert after.y == pytest.approx(45, abs=2 * tolerance(window))
    assert window.canvas.point_item("nose").pos().x() == pytest.approx(after.x)
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert stored(window)["nose"] == before
    assert window.canvas.point_item("nose").pos().x() == pytest.approx(before.x)
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert stored(window) == {}
    assert window.canvas.point_item("nose") is None
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    key(qtbot, window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert stored(window)["nose"] == after


def test_occluded_absent_delete_and_swap_keys(qtbot, window):
    wait_shown(qtbot, window)
    image = window.current.id
    key(qtbot, window, Qt.Key.Key_2)
    click_image(qtbot, window, 20, 20)  # left_eye
    key(qtbot, window, Qt.Key.Key_3)
    click_image(qtbot, window, 70, 20)  # right_eye
    key(qtbot, window, Qt.Key.Key_2)
    key(qtbot, window, Qt.Key.Key_O)
    assert stored(window)["left_eye"].visibility == OCCLUDED
    key(qtbot, window, Qt.Key.Key_O)
    assert stored(window)["left_eye"].visibility == VISIBLE
    left, right = stored(window)["left_eye"], stored(window)["right_eye"]
    key(qtbot, window, Qt.Key.Key_S)
    swapped = stored(window)
    assert (swapped["left_eye"].x, swapped["right_eye"].x) == (right.x, left.x)
    key(qtbot, window, Qt.Key.Key_X)
    assert stored(window)["left_eye"].visibility == ABSENT
    assert "left_eye" not in window.canvas.drawn_points()  # absent: listed, not drawn
    assert window.keypoints.status_of("left_eye") == "absent"
    key(qtbot, window, Qt.Key.Key_X)  # again: back to unlabelled
    assert "left_eye" not in stored(window)
    key(qtbot, window, Qt.Key.Key_3)
    key(qtbot, window, Qt.Key.Key_Delete)
    assert stored(window) == {}
    assert window.undo_stack.count() == 8  # two places, O, O, S, X, X, Delete
    for _ in range(8):
        window.actions["undo"].trigger()
    assert stored(window) == {} and not window.undo_stack.canUndo()
    assert window.current.id == image


def test_edit_errors_are_messages_not_crashes(qtbot, window):
    wait_shown(qtbot, window)
    key(qtbot, window, Qt.Key.Key_1)
    key(qtbot, window, Qt.Key.Key_S)  # nose has no left/right counterpart
    assert "no left/right counterpart" in window.statusBar().currentMessage()
    key(qtbot, window, Qt.Key.Key_O)  # nothing to mark occluded yet
    assert "place nose first" in window.statusBar().currentMessage()
    assert not window.undo_stack.canUndo()


def test_dragging_a_prediction_makes_a_correction(qtbot, window):
    wait_shown(qtbot, window)
    window.project.write_predictions([(window.current.id, {"nose": (30.0, 30.0, 0.4)})], method="test", model=None)
    window.refresh_current()
    assert window.canvas.point_item("nose").predicted
    drag_point(qtbot, window, (30, 30), (50, 40))
    row = stored(window)["nose"]
    assert row.status == CORRECTED and (row.pred_x, row.pred_y) == (30.0, 30.0)
    window.actions["undo"].trigger()
    assert stored(window)["nose"].status == PREDICTED


def test_navigation_keys_walk_the_list(qtbot, window):
    wait_shown(qtbot, window)
    first = window.current.id
    key(qtbot, window, Qt.Key.Key_D)
    second = window.current.id
    assert second != first
    key(qtbot, window, Qt.Key.Key_Right)
    key(qtbot, window, Qt.Key.Key_A)
    assert window.current.id != first
    key(qtbot, window, Qt.Key.Key_Left)
    assert window.current.id == first
    key(qtbot, window, Qt.Key.Key_End)
    assert window.image_list.current_row() == window.image_list.model.rowCount() - 1
    key(qtbot, window, Qt.Key.Key_Home)
    assert window.current.id == first
    wait_shown(qtbot, window)


def test_points_keep_their_screen_size_and_show_names_on_hover(qtbot, window):
    from gui_helpers import viewport_pos

    wait_shown(qtbot, window)
    click_image(qtbot, window, 30, 30)
    item = window.canvas.point_item("nose")
    view = window.canvas

    def screen_width():
        return item.deviceTransform(view.viewportTransform()).mapRect(item.boundingRect()).width()

    before = screen_width()
    view.zoom_by(6.0)
    view.centerOn(30, 30)
    assert screen_width() == pytest.approx(before)
    assert not item.label.isVisible()
    qtbot.mouseMove(view.viewport(), viewport_pos(window, 30, 30) + QPoint(4, 3))  # 5 screen px off
    qtbot.waitUntil(item.label.isVisible)
    assert item.label.text() == "nose" and view.hovered_keypoint == "nose"
    key(qtbot, window, Qt.Key.Key_F)  # fit again
    assert view.zoom < 20


def test_keypoint_names_with_markup_or_ampersands_show_as_typed(qtbot, make_window, tmp_path, monkeypatch):
    """Names are free text: "<i>tip</i>" was rendered as markup in the hint and "a&b" lost its
    "&" (a menu mnemonic) in the point menu."""
    from PyQt6.QtWidgets import QMenu

    from labeler.store import find_image_files, probe_files, relative_to_root
    from labeler.store.testing import write_image

    root = tmp_path / "imgs"
    write_image(root / "a.png", "rgb", (80, 60))
    probed, _ = probe_files([(f, relative_to_root(f, root)) for f in find_image_files(root)], progress=False)
    path = tmp_path / "names.labeler"
    Project.create(path, root, ("a&b", "<i>tip</i>"), (), (("a&b", "<i>tip</i>"),), images=probed).close()
    window = make_window(path)
    wait_shown(qtbot, window)
    assert "<b>a&amp;b</b>" in window.keypoints.hint.text()
    window.set_current_keypoint("<i>tip</i>")
    assert "<b>&lt;i&gt;tip&lt;/i&gt;</b>" in window.keypoints.hint.text()
    click_image(qtbot, window, 20, 20)
    monkeypatch.setattr(QMenu, "exec", lambda self, *a: None)
    window.labeling.show_point_menu("<i>tip</i>", QPoint(0, 0))
    texts = [a.text() for a in window.labeling.point_menu.actions()]
    assert texts[0] == "<i>tip</i>" and any(t.startswith("Swap with a&&b") for t in texts)
