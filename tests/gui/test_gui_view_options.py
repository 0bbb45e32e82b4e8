"""View options (V): keypoints shown, skeleton, point size (remembered), brightness/contrast:
display only, and a hidden confirmed point is still safe from a stray click."""

from __future__ import annotations

import pytest
from gui_helpers import click_image, key, wait_shown
from PyQt6.QtCore import Qt

from labeler.store import Project


def test_view_options_change_only_the_display(qtbot, make_window, project_path, settings):
    with Project.open(project_path) as p:
        first = p.image_index()[0][0]
        p.set_points(first, {"nose": (48, 20), "left_eye": (30, 30), "right_eye": (66, 30), "tail": (48, 66)})
    window = make_window(project_path)
    wait_shown(qtbot, window)
    canvas = window.canvas
    key(qtbot, window, Qt.Key.Key_V)
    dialog = window.view_dialog
    assert dialog is not None and dialog.isVisible()
    assert ("nose", "tail") in canvas.drawn_edges()

    dialog.boxes["tail"].setChecked(False)
    assert canvas.point_item("tail") is None and ("nose", "tail") not in canvas.drawn_edges()
    window.set_current_keypoint("tail")
    click_image(qtbot, window, 10, 10)  # hidden, still confirmed: a plain click does not move it
    with Project.open(project_path) as p:
        assert (p.points(first)["tail"].x, p.points(first)["tail"].y) == (48, 66)

    dialog.skeleton.setChecked(False)
    assert canvas.drawn_edges() == []
    dialog.size.setValue(200)
    assert canvas.point_item("nose").scale() == pytest.approx(2.0)

    before = canvas.shown_pixels.pixelColor(40, 30)
    dialog.brightness.setValue(30)
    after = canvas.shown_pixels.pixelColor(40, 30)
    assert after.red() >= min(255, before.red() + 60) or after.red() == 255
    dialog.reset_adjust()
    assert canvas.shown_pixels.pixelColor(40, 30) == before
    dialog.names.setChecked(True)
    assert window.actions["toggle_names"].isChecked()
    dialog.close()

    window.shutdown()
    again = make_window(project_path, settings=settings)  # size and skeleton are remembered
    assert again.canvas.point_scale == pytest.approx(2.0) and not again.canvas.show_skeleton
