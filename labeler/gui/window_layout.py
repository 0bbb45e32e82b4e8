"""Keeping the image large on small screens: the side panels give way when the window narrows,
and the toolbar drops its button texts (icons stay, tooltips name them) rather than losing
buttons off its end."""

from __future__ import annotations

from collections.abc import Sequence

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDockWidget, QMainWindow, QToolBar


def dock_widths(window_width: int) -> tuple[int, int]:
    """(images list, keypoints panel) for a window this wide: at 1280 px 217 + 268, at 1024
    px 180 + 250 (the image keeps ~58% of the width; the keypoint states stay whole)."""
    return min(300, max(180, window_width * 17 // 100)), min(330, max(250, window_width * 21 // 100))


def fit_docks(window: QMainWindow, docks: Sequence[QDockWidget], *, grew: bool = False) -> None:
    """Shrink side panels wider than :func:`dock_widths` allows; when the window ``grew``, widen
    those narrower than it (a panel the person dragged keeps its width until the window changes)."""
    targets = dock_widths(window.width())
    pairs = [(d, t) for d, t in zip(docks, targets, strict=True) if not d.isHidden() and not d.isFloating()]
    if any(d.width() > t or (grew and d.width() < t) for d, t in pairs):
        window.resizeDocks([d for d, _ in pairs], [t if grew else min(d.width(), t) for d, t in pairs],
                           Qt.Orientation.Horizontal)


class CompactToolBar(QToolBar):
    """Icons with text while everything fits; icons only when it would not."""

    def __init__(self, title: str, parent=None) -> None:  # noqa: ANN001
        super().__init__(title, parent)
        self._full = 0  # width needed with texts
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)

    def resizeEvent(self, event) -> None:  # noqa: ANN001
        super().resizeEvent(event)
        self.adapt()

    def adapt(self) -> None:
        if self.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonTextBesideIcon:
            self._full = self.sizeHint().width()
        want = (Qt.ToolButtonStyle.ToolButtonIconOnly if self._full and self.width() < self._full
                else Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        if want != self.toolButtonStyle():
            self.setToolButtonStyle(want)

    @property
    def compact(self) -> bool:
        return self.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonIconOnly
