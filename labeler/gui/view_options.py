"""View options: which keypoints are drawn, skeleton and names, point size, and brightness /
contrast for dark photos. They change only what is shown, never the labels or the image file.

Point size, skeleton and names are remembered; hidden keypoints and brightness/contrast last
for the session (a dark image today is not a dark image tomorrow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage
from PyQt6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from labeler.gui.canvas import Canvas
    from labeler.gui.settings import AppSettings

POINT_SIZES = (0.6, 2.0)  # smallest and largest point scale


def adjusted(image: QImage, brightness: float, contrast: float) -> QImage:
    """``image`` with ``v' = (v - 128) * contrast + 128 + 255 * brightness`` on each colour
    channel (one lookup table, on the UI thread: a 6000 x 4000 image took 0.95 s on the shared
    2-core test machine under load, so the sliders apply on release, not while dragged)."""
    img = image.convertToFormat(QImage.Format.Format_RGB32)
    w, h = img.width(), img.height()
    if not w or not h:
        return img
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    raw = np.frombuffer(ptr, np.uint8).reshape(h, img.bytesPerLine())[:, : 4 * w].reshape(h, w, 4)
    lut = np.clip((np.arange(256, dtype=np.float32) - 128.0) * contrast + 128.0 + 255.0 * brightness, 0, 255)
    out = lut.astype(np.uint8)[raw]
    out[..., 3] = 255
    out = np.ascontiguousarray(out)
    result = QImage(out.data, w, h, 4 * w, QImage.Format.Format_RGB32)
    return result.copy()  # owns its pixels


class ViewOptionsDialog(QDialog):
    """Non-modal: every change shows at once on the canvas."""

    def __init__(self, canvas: Canvas, keypoints: tuple[str, ...], settings: AppSettings,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("View options")
        self.canvas = canvas
        self.settings = settings
        self.boxes: dict[str, QCheckBox] = {}
        shown = QGroupBox("Keypoints drawn")
        grid = QGridLayout(shown)
        for i, name in enumerate(keypoints):
            box = QCheckBox(name)
            box.setChecked(name not in canvas.hidden)
            box.toggled.connect(self._keypoints_changed)
            grid.addWidget(box, i // 2, i % 2)
            self.boxes[name] = box
        all_button = QPushButton("Show all")
        all_button.clicked.connect(lambda: [b.setChecked(True) for b in self.boxes.values()])
        grid.addWidget(all_button, (len(keypoints) + 1) // 2, 0)
        self.skeleton = QCheckBox("Skeleton")
        self.skeleton.setChecked(canvas.show_skeleton)
        self.skeleton.toggled.connect(self._skeleton_changed)
        self.names = QCheckBox("Every keypoint's name (L)")
        self.names.setChecked(canvas.show_names)
        self.names.toggled.connect(self._names_changed)
        self.size = self._slider(int(POINT_SIZES[0] * 100), int(POINT_SIZES[1] * 100), int(canvas.point_scale * 100))
        self.size.valueChanged.connect(self._size_changed)
        b, c = canvas.adjust
        self.brightness = self._slider(-50, 50, int(round(b * 100)))
        self.contrast = self._slider(50, 300, int(round(c * 100)))
        self.brightness.sliderReleased.connect(self._adjust_changed)
        self.contrast.sliderReleased.connect(self._adjust_changed)
        self.brightness.valueChanged.connect(self._adjust_changed_unless_dragging)
        self.contrast.valueChanged.connect(self._adjust_changed_unless_dragging)
        reset = QPushButton("Reset brightness/contrast")
        reset.clicked.connect(self.reset_adjust)
        self.note = QLabel("Only the display changes: the image and the labels stay as they are.")
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("", self.skeleton)
        form.addRow("", self.names)
        form.addRow("Point size", self.size)
        form.addRow("Brightness", self.brightness)
        form.addRow("Contrast", self.contrast)
        form.addRow("", reset)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(shown)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self.on_names: object = None  # the window keeps its L action in step

    @staticmethod
    def _slider(lo: int, hi: int, value: int) -> QSlider:
        s = QSlider(Qt.Orientation.Horizontal)
        s.setRange(lo, hi)
        s.setValue(min(max(value, lo), hi))
        return s

    def _keypoints_changed(self) -> None:
        self.canvas.set_hidden({n for n, b in self.boxes.items() if not b.isChecked()})

    def _skeleton_changed(self, on: bool) -> None:
        self.canvas.set_show_skeleton(on)
        self.settings.set_value("view/skeleton", on)

    def _names_changed(self, on: bool) -> None:
        if callable(self.on_names):
            self.on_names(on)
        else:
            self.canvas.set_show_names(on)

    def _size_changed(self, value: int) -> None:
        self.canvas.set_point_scale(value / 100.0)
        self.settings.set_value("view/point_scale", value / 100.0)

    def _adjust_changed_unless_dragging(self) -> None:
        if not (self.brightness.isSliderDown() or self.contrast.isSliderDown()):
            self._adjust_changed()

    def _adjust_changed(self) -> None:
        self.canvas.set_adjust(self.brightness.value() / 100.0, self.contrast.value() / 100.0)

    def reset_adjust(self) -> None:
        self.brightness.setValue(0)
        self.contrast.setValue(100)
        self._adjust_changed()


def restore_view(canvas: Canvas, settings: AppSettings) -> None:
    """The remembered view options, applied to a new canvas."""
    canvas.set_show_skeleton(str(settings.value("view/skeleton", "true")).lower() not in ("false", "0"))
    try:
        scale = float(settings.value("view/point_scale", 1.0))
    except (TypeError, ValueError):
        scale = 1.0
    canvas.set_point_scale(min(max(scale, POINT_SIZES[0]), POINT_SIZES[1]))
