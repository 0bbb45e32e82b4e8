"""Helpers for driving the window like a person: clicks and drags in image coordinates."""

from __future__ import annotations

from PyQt6.QtCore import QPoint, QPointF, Qt

from labeler.propagation import PropagationConfig
from labeler.store import Project


def viewport_pos(window, x: float, y: float) -> QPoint:
    return window.canvas.mapFromScene(QPointF(x, y))


def click_image(qtbot, window, x: float, y: float, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, modifier, viewport_pos(window, x, y))


def drag_point(qtbot, window, start: tuple[float, float], end: tuple[float, float], steps: int = 5) -> None:
    """Press on ``start``, move in steps, release on ``end`` (image coordinates)."""
    vp = window.canvas.viewport()
    a, b = viewport_pos(window, *start), viewport_pos(window, *end)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for i in range(1, steps + 1):
        p = QPoint(a.x() + (b.x() - a.x()) * i // steps, a.y() + (b.y() - a.y()) * i // steps)
        qtbot.mouseMove(vp, p)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def key(qtbot, window, k, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press as the annotator makes it: window shortcuts need the window to be active."""
    if not window.isActiveWindow():
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window.canvas, k, modifier)


def wait_shown(qtbot, window, timeout: int = 5000) -> None:
    """Until the current image's pixels (or its failure placeholder) are on screen."""
    qtbot.waitUntil(lambda: window.canvas.image_shown or bool(window.canvas.failure_message), timeout=timeout)


def tolerance(window) -> float:
    """Image pixels per screen pixel: how exact a simulated click can be."""
    return 1.0 / window.canvas.zoom + 1e-6


#: Tiny random SD at 64 px: exercises the real engine, model loading and batching in seconds.
TINY = PropagationConfig(
    method="dift", model="tiny-random", device="cpu", batch_size=2, flip=False,
    overrides={"resolution": 64, "match_side": 48},
)
REFERENCE = {"nose": (48.0, 20.0), "left_eye": (30.0, 30.0), "right_eye": (66.0, 30.0), "tail": (48.0, 66.0)}


def label_first_image(path) -> int:
    with Project.open(path) as p:
        first = p.image_index()[0][0]
        p.set_points(first, REFERENCE)
        return first


def label_and_predict(path, predictions: dict[int, dict[str, tuple[float, float, float]]]) -> list[int]:
    """The first image labelled (nose, eyes, tail), then predictions written for the images at the
    given indices: image index -> keypoint -> (x, y, confidence). Returns the image ids."""
    with Project.open(path) as p:
        ids = [r[0] for r in p.image_index()]
        p.set_points(ids[0], {"nose": (48, 20), "left_eye": (30, 30), "right_eye": (66, 30), "tail": (48, 66)})
        p.write_predictions([(ids[i], pts) for i, pts in predictions.items()], method="test", model=None)
    return ids
