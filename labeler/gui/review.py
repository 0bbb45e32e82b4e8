"""Walking the review queue, and the "accept all above a confidence" dialog."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from labeler.store import Project


class ReviewNavigator:
    """Next image to review = the least confident image with predictions (the store's queue),
    skipping images the annotator passed over with "next" until the queue wraps around."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._skipped: set[int] = set()

    def next_image(self, current: int | None) -> int | None:
        """The image to show next; None when nothing awaits review."""
        if current is not None:
            self._skipped.add(current)
        queue = self.project.review_queue(limit=len(self._skipped) + 1)
        for item in queue:
            if item.image_id not in self._skipped:
                return item.image_id
        self._skipped.clear()  # everything left was passed over once: start another round
        queue = self.project.review_queue(limit=2)
        others = [q.image_id for q in queue if q.image_id != current]
        if others:
            return others[0]
        return queue[0].image_id if queue else None

    def reset(self) -> None:
        self._skipped.clear()

    def remaining(self) -> int:
        return self.project.image_count("predicted")


class AcceptAboveDialog(QDialog):
    """Pick a confidence threshold; shows how many predictions it would accept."""

    def __init__(self, confidences: Sequence[float | None], threshold: float = 0.5, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Accept predictions above a confidence")
        self._sorted = sorted(c for c in confidences if c is not None)
        self._total = len(confidences)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, 1.0)
        self.spin.setSingleStep(0.05)
        self.spin.setDecimals(2)
        self.spin.setValue(threshold)
        self.spin.valueChanged.connect(self._update)
        self.count = QLabel("")
        self.count.setObjectName("muted")
        form = QFormLayout()
        form.addRow("Accept predictions with confidence ≥", self.spin)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Accept")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.count)
        note = QLabel("One undo step (Ctrl+Z) takes them all back.")
        note.setObjectName("muted")
        layout.addWidget(note)
        layout.addWidget(buttons, alignment=Qt.AlignmentFlag.AlignRight)
        self._update()

    @property
    def threshold(self) -> float:
        return float(self.spin.value())

    def qualifying(self) -> int:
        return len(self._sorted) - bisect_left(self._sorted, self.threshold)

    def _update(self) -> None:
        n = self.qualifying()
        self.count.setText(f"{n} of {self._total} predictions awaiting review qualify.")
        self.ok.setEnabled(n > 0)
