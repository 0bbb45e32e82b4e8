"""The run log: every status-bar message and propagation summary, kept with its time.

The status bar forgets a message after a few seconds; an annotator back from a coffee must
still read how the last propagation ended, so every message is also written here (a dock,
View > Run log).
"""

from __future__ import annotations

import time

from PyQt6.QtGui import QTextCursor
from PyQt6.QtWidgets import QPlainTextEdit, QWidget

MAX_LINES = 5000


class RunLog(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(MAX_LINES)
        self.setPlaceholderText("Messages and propagation results appear here.")
        self._last = ""

    def add(self, text: str, *, error: bool = False) -> None:
        """One line, stamped; the same message twice in a row is written once."""
        if not text or text == self._last:
            return
        self._last = text
        line = f"{time.strftime('%H:%M:%S')}  {'error: ' if error else ''}{text}"
        self.appendPlainText(line)
        self.moveCursor(QTextCursor.MoveOperation.End)

    def lines(self) -> list[str]:
        return self.toPlainText().splitlines()
