"""Help > Keyboard shortcuts: rendered from the one shortcut table, so it is always true."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QKeySequence
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from labeler.gui.shortcuts import GROUPS, MOUSE, SHORTCUTS


def native(key: str) -> str:
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText) or key


def rows() -> list[tuple[str, str, str]]:
    """(group, keys, description) in display order."""
    out = []
    for group in GROUPS:
        for s in SHORTCUTS:
            if s.group != group:
                continue
            keys = "1 … 9, 0" if s.action == "select_keypoint" else ",  ".join(native(k) for k in s.keys)
            out.append((group, keys, s.description))
    out += [("Mouse", gesture, what) for gesture, what in MOUSE]
    return out


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(940, 680)
        data = rows()
        self.table = QTableWidget(len(data), 3)
        self.table.setHorizontalHeaderLabels(["", "Keys", "Does"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        previous = None
        for i, (group, keys, what) in enumerate(data):
            g = QTableWidgetItem(group if group != previous else "")
            g.setForeground(Qt.GlobalColor.gray)
            k = QTableWidgetItem(keys)
            font = k.font()
            font.setBold(True)
            k.setFont(font)
            self.table.setItem(i, 0, g)
            self.table.setItem(i, 1, k)
            self.table.setItem(i, 2, QTableWidgetItem(what))
            previous = group
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(True)
        self.table.resizeRowsToContents()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
