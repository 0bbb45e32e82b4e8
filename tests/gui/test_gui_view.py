"""The view between images: zoom and centre kept for images of the same size, fit otherwise,
fit kept while the window resizes, and the View menu toggle (remembered)."""

from __future__ import annotations

import pytest
from gui_helpers import key, wait_shown
from PyQt6.QtCore import QPointF, Qt

from labeler.store import Project
from labeler.store.testing import write_image


def centre(window) -> QPointF:
    return window.canvas.view_centre()


def test_zoom_and_centre_kept_for_same_size_images(qtbot, window):
    wait_shown(qtbot, window)
    window.canvas.zoom_by(3.0)
    window.canvas.centerOn(QPointF(20, 15))
    zoom, where = window.canvas.zoom, centre(window)
    key(qtbot, window, Qt.Key.Key_D)
    wait_shown(qtbot, window)
    assert window.canvas.zoom == pytest.approx(zoom)
    assert (centre(window).x(), centre(window).y()) == pytest.approx((where.x(), where.y()), abs=1.5 / zoom)  # a screen pixel of rounding


def test_actual_pixels_is_kept_too(qtbot, window):
    """100% is an identity transform: it was once mistaken for "never zoomed" and refitted."""
    wait_shown(qtbot, window)
    key(qtbot, window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert window.canvas.zoom == pytest.approx(1.0)
    key(qtbot, window, Qt.Key.Key_D)
    wait_shown(qtbot, window)
    assert window.canvas.zoom == pytest.approx(1.0)


def test_other_size_fits_and_fitted_view_follows_resizes(qtbot, make_window, project_path):
    root = Project.open(project_path)
    try:
        write_image(root.images_root / "zz_wide.png", "rgb", (400, 100), seed=3)
        root.add_images(root.images_root / "zz_wide.png", progress=False)
    finally:
        root.close()
    window = make_window(project_path)
    wait_shown(qtbot, window)
    window.canvas.zoom_by(4.0)
    key(qtbot, window, Qt.Key.Key_End)  # the 400x100 image
    wait_shown(qtbot, window)
    assert window.current.width == 400
    assert window.canvas.fitted
    fit_zoom = window.canvas.zoom
    window.resize(window.width() - 200, window.height())
    qtbot.waitUntil(lambda: window.canvas.zoom < fit_zoom * 0.95)  # still fitted, smaller
    assert window.canvas.fitted


def test_toggle_off_always_fits_and_is_remembered(qtbot, make_window, project_path, settings):
    window = make_window(project_path)
    wait_shown(qtbot, window)
    assert window.keep_zoom_action.isChecked()
    window.keep_zoom_action.trigger()
    window.canvas.zoom_by(3.0)
    key(qtbot, window, Qt.Key.Key_D)
    wait_shown(qtbot, window)
    assert window.canvas.fitted
    window.shutdown()
    again = make_window(project_path, settings=settings)
    assert not again.keep_zoom_action.isChecked() and not again.canvas.keep_view


def test_canvas_gets_most_of_a_small_window(qtbot, make_window, project_path):
    """At 1280x800 the two panels once took 650 px and left the image 630; the list also
    showed a horizontal scroll bar."""
    window = make_window(project_path)
    window.resize(1280, 800)
    wait_shown(qtbot, window)
    qtbot.waitUntil(lambda: window.canvas.width() >= 0.55 * 1280)
    assert not window.image_list.view.horizontalScrollBar().isVisible()
    assert "Auto-advance" in window.advance_box.text()
