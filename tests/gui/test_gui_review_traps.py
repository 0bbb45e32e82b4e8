"""The review loop without traps (issue 23 §2): bounded zoom to a point, a wobble is not a
drag, Ctrl+0 zooms at the mouse, undo says what it undid."""

from __future__ import annotations

import random

import pytest
from gui_helpers import click_image, drag_point, key, viewport_pos, wait_shown
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtWidgets import QApplication

from labeler.gui.canvas import FOCUS_CONTEXT_PX, FOCUS_MAX_ZOOM, Canvas, drag_distance, focus_zoom
from labeler.store import ImageRecord, Project, Schema


def test_zoom_to_a_point_is_bounded_for_any_image_and_view():
    """Generated sizes, tiny to huge: never below the fit, never above the cap unless the fit
    is, and the context window (or the whole image) stays in view."""
    rng = random.Random(23)
    for _ in range(2000):
        iw, ih = rng.choice([rng.uniform(8, 200), rng.uniform(200, 8000)]), rng.uniform(8, 8000)
        vw, vh = rng.uniform(120, 3000), rng.uniform(120, 2000)
        z = focus_zoom(iw, ih, vw, vh)
        fit = min(vw / iw, vh / ih)
        assert z >= fit - 1e-9
        assert z <= max(fit, FOCUS_MAX_ZOOM) + 1e-9
        context = max(FOCUS_CONTEXT_PX, 0.25 * max(iw, ih))
        assert z <= fit + 1e-9 or min(vw, vh) / z >= context - 1e-6, (iw, ih, vw, vh, z)


def _record(width: int, height: int) -> ImageRecord:
    return ImageRecord(id=1, path="big.jpg", width=width, height=height, orientation=1, sha256="", size_bytes=0,
                       review_status="unlabeled", missing=False, added_at=0.0)


@pytest.mark.parametrize("spot", [(150, 100), (640, 300), (400, 420)])
def test_ctrl_0_keeps_the_image_point_under_the_mouse(qtbot, spot):
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(800, 600)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.show_image(_record(3000, 2000), Schema(keypoints=[]), {})
    canvas.fit()
    at = QPoint(*spot)
    qtbot.mouseMove(canvas.viewport(), at)
    under = canvas.mapToScene(at)
    canvas.actual_size()
    assert canvas.zoom == pytest.approx(1.0)
    after = canvas.mapToScene(at)
    assert (after.x(), after.y()) == pytest.approx((under.x(), under.y()), abs=1.5)


def test_a_wobble_while_clicking_a_point_does_not_move_it(qtbot, window):
    wait_shown(qtbot, window)
    click_image(qtbot, window, 40, 30)  # nose placed (confirmed)
    image = window.current.id
    before = window.project.points(image)["nose"]
    steps = window.undo_stack.count()
    assert drag_distance() >= QApplication.startDragDistance() >= 3
    vp = window.canvas.viewport()
    press = viewport_pos(window, before.x, before.y)
    rng = random.Random(3)
    for _ in range(5):  # wobbles up to just under the drag distance, in any direction
        qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, press)
        for _ in range(3):
            dx = rng.randint(-(drag_distance() - 1), drag_distance() - 1)
            dy = rng.choice([-1, 1]) * rng.randint(0, drag_distance() - 1 - abs(dx))
            qtbot.mouseMove(vp, press + QPoint(dx, dy))
        qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, press + QPoint(dx, dy))
    after = window.project.points(image)["nose"]
    assert (after.x, after.y) == (before.x, before.y) and window.undo_stack.count() == steps
    drag_point(qtbot, window, (before.x, before.y), (before.x + 20, before.y + 10))  # a real drag still moves it
    moved = window.project.points(image)["nose"]
    assert moved.x == pytest.approx(before.x + 20, abs=1)


def test_undo_and_redo_say_what_they_did(qtbot, window):
    wait_shown(qtbot, window)
    click_image(qtbot, window, 40, 30)
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.statusBar().currentMessage().startswith("undone: place nose")
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.statusBar().currentMessage().startswith("redone: place nose")
