"""Every edit is on disk when it is made: a new window (the app reopened) shows exactly it."""

from __future__ import annotations

from gui_helpers import click_image, drag_point, key, wait_shown
from PyQt6.QtCore import Qt

from labeler.store import Project


def test_reopening_shows_exactly_what_was_there(qtbot, make_window, project_path):
    window = make_window(project_path)
    wait_shown(qtbot, window)
    key(qtbot, window, Qt.Key.Key_D)  # work on the second image
    wait_shown(qtbot, window)
    click_image(qtbot, window, 20, 20)
    click_image(qtbot, window, 40, 30, Qt.KeyboardModifier.ShiftModifier)
    drag_point(qtbot, window, (20, 20), (25, 26))
    key(qtbot, window, Qt.Key.Key_3)
    key(qtbot, window, Qt.Key.Key_X)
    image = window.current.id
    with Project.open(project_path) as p:
        expected = p.points(image)
    assert set(expected) == {"nose", "left_eye", "right_eye"}
    window.close()  # like quitting the app (no save step exists)
    assert window.project is None

    again = make_window()  # the app started with no argument reopens the last project
    assert again.settings.recent_projects()[0] == str(project_path.resolve())
    assert again.open_project(again.settings.recent_projects()[0])
    assert again.current.id == image  # and the last image
    assert again.current_points == expected
    drawn = again.canvas.drawn_points()
    assert set(drawn) == {"nose", "left_eye"}  # absent is listed, not drawn
    assert drawn["nose"].pos().x() == expected["nose"].x
    assert again.keypoints.status_of("right_eye") == "absent"
    assert again.keypoints.status_of("left_eye") == "placed, occluded"
    assert again.image_list.model.row_at(1)[2] == "partial"
    assert not again.undo_stack.canUndo()  # history does not survive, labels do


def test_edits_from_another_process_appear(qtbot, window):
    wait_shown(qtbot, window)
    with Project.open(window.project.path) as other:  # e.g. `labeler label` in a terminal
        other.set_point(window.current.id, "tail", 10, 10)
        last = other.image_index()[-1][0]
        other.set_point(last, "nose", 5, 5)
    qtbot.waitUntil(lambda: "tail" in window.canvas.drawn_points(), timeout=3000)
    qtbot.waitUntil(lambda: window.image_list.model.row_at(5)[2] == "partial", timeout=3000)
