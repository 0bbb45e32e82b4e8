"""The keypoint panel: the keypoint picker, and each keypoint's state on the current image."""

from __future__ import annotations

import html
from collections.abc import Mapping

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap
from PyQt6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from labeler.gui.shortcuts import KEYPOINT_KEYS
from labeler.gui.style import confidence_colour, keypoint_colour
from labeler.store import ABSENT, OCCLUDED, PREDICTED, PointRecord, Schema


def status_text(rec: PointRecord | None) -> tuple[str, QColor]:
    """How a point's state reads in the panel, and its colour."""
    if rec is None:
        return "—", QColor("#6b7380")
    if rec.visibility == ABSENT:
        return "absent", QColor("#aab2bf")
    if rec.status == PREDICTED:
        conf = "?" if rec.confidence is None else f"{rec.confidence:.2f}"
        return f"{conf} predicted", confidence_colour(rec.confidence)  # a narrow panel elides the word, not the number
    word = {"manual": "placed", "accepted": "accepted", "corrected": "corrected"}.get(rec.status, rec.status)
    if rec.visibility == OCCLUDED:
        word += ", occluded"
    return word, QColor("#e6e9ef")


def swatch(colour: QColor, size: int = 12) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(colour)
    p.setPen(QColor(10, 12, 16))
    p.drawEllipse(1, 1, size - 2, size - 2)
    p.end()
    return QIcon(pm)


class KeypointPanel(QWidget):
    """Click a row (or press its number) to make that keypoint current."""

    keypoint_selected = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["#", "Keypoint", "State"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        # the state whole ("0.72 predicted"), the names take what is left (schemas' names are short)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.hint = QLabel("")
        self.hint.setObjectName("muted")
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.RichText)  # names are escaped; <b> marks them
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table)
        layout.addWidget(self.hint)
        self._schema = Schema()
        self._current: str | None = None
        self._points: dict[str, PointRecord] = {}
        self._blocked = ""  # why the image on screen cannot be labelled (missing, unreadable)
        self._updating = False

    @property
    def current(self) -> str | None:
        return self._current

    def set_schema(self, schema: Schema) -> None:
        self._updating = True
        self._schema = schema
        self.table.setRowCount(len(schema.keypoints))
        for i, name in enumerate(schema.keypoints):
            key = QTableWidgetItem(KEYPOINT_KEYS[i] if i < len(KEYPOINT_KEYS) else "")
            key.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            label = QTableWidgetItem(swatch(keypoint_colour(i)), name)
            flip = schema.flip_of(name)
            label.setToolTip(f"{name}" + (f" (left/right pair of {flip})" if flip else ""))
            self.table.setItem(i, 0, key)
            self.table.setItem(i, 1, label)
            self.table.setItem(i, 2, QTableWidgetItem("—"))
        self._updating = False
        # every row in view (up to 12; more scroll): the review panel below gives way instead
        rows = min(len(schema.keypoints), 12)
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height() + 4
                                    + rows * self.table.verticalHeader().defaultSectionSize())
        if self._current not in schema.keypoints:
            self._current = None
        self.set_current(self._current or (schema.keypoints[0] if schema.keypoints else None))

    def set_blocked(self, reason: str) -> None:
        """The image on screen cannot be labelled (``reason``; "" when it can): the hint says so
        instead of inviting a click. The next image clears it (:meth:`set_points` with ``fresh``)."""
        self._blocked = reason
        self._update_hint(None)

    def set_points(self, points: Mapping[str, PointRecord], *, fresh: bool = False) -> None:
        if fresh:
            self._blocked = ""
        for i, name in enumerate(self._schema.keypoints):
            text, colour = status_text(points.get(name))
            item = self.table.item(i, 2)
            if item is not None:
                item.setText(text)
                item.setForeground(QBrush(colour))
        self._update_hint(points)

    def status_of(self, name: str) -> str:
        item = self.table.item(self._schema.index(name), 2)
        return item.text() if item is not None else ""

    def set_current(self, name: str | None) -> None:
        self._current = name
        self._updating = True
        if name is None:
            self.table.clearSelection()
        else:
            row = self._schema.index(name)
            self.table.selectRow(row)
            self.table.scrollToItem(self.table.item(row, 1))
        self._updating = False
        self._update_hint(None)

    def _update_hint(self, points: Mapping[str, PointRecord] | None) -> None:
        if points is not None:
            self._points = dict(points)
        rec = self._points.get(self._current) if self._current is not None else None
        if self._blocked:
            self.hint.setText(f"Cannot be labelled: {html.escape(self._blocked)}")
        elif self._current is None:
            self.hint.setText("Define keypoints (Edit > Edit keypoints) to start labeling." if not self._schema.keypoints else "")
        elif rec is not None and rec.confirmed and rec.x is not None:
            self.hint.setText(f"<b>{html.escape(self._current)}</b> is placed: drag it to move it; "
                              "Alt+click places it again elsewhere.")
        else:
            self.hint.setText(f"Click the image to place <b>{html.escape(self._current)}</b> "
                              "(Shift+click: occluded).")

    def _selection_changed(self) -> None:
        if self._updating:
            return
        rows = {i.row() for i in self.table.selectedItems()}
        if len(rows) == 1:
            name = self._schema.keypoints[rows.pop()]
            self._current = name
            self._update_hint(None)
            self.keypoint_selected.emit(name)
