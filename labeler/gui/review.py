"""Walking the review queue, and the "accept all above a confidence" dialog."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from labeler.store import REVIEW_PREDICTED, Project


class ReviewNavigator:
    """Next image to review = the least confident image with predictions (the store's queue),
    skipping images the annotator passed over with "next" until the queue wraps around.

    The store's queue is an aggregate over every prediction (hundreds of ms on big projects),
    so a batch of it is kept and walked; images whose status (``status_of``, from the image
    list) is no longer "predicted" are passed over, and the batch is fetched again when it runs
    out or a propagation finishes (:meth:`reset`; :meth:`fetch` may run off the UI thread).
    """

    BATCH = 500

    def __init__(self, project: Project, status_of: Callable[[int], str | None] | None = None) -> None:
        self.project = project
        self.status_of = status_of or (lambda image_id: None)
        self._skipped: set[int] = set()
        self._queue: list[int] | None = None

    def fetch(self, limit: int | None = None) -> list[int]:
        return [q.image_id for q in self.project.review_queue(limit=limit or self.BATCH, skip_claimed=True)]

    def set_queue(self, image_ids: list[int]) -> None:
        self._queue = list(image_ids)

    def reset(self) -> None:
        self._skipped.clear()
        self._queue = None

    def next_image(self, current: int | None) -> int | None:
        """The image to show next; None when nothing awaits review."""
        if current is not None:
            self._skipped.add(current)
        fetched = False
        while True:
            if self._queue is None:
                self._queue = self.fetch(len(self._skipped) + self.BATCH)
                fetched = True
            live = [i for i in self._queue if self.status_of(i) in (None, REVIEW_PREDICTED)]
            fresh = [i for i in live if i not in self._skipped]
            if fresh:
                return fresh[0]
            if not fetched:  # the kept batch is used up or stale: ask the store
                self._queue = None
                continue
            if not live:
                return None
            self._skipped.clear()  # everything left was passed over once: start another round
            others = [i for i in live if i != current]
            return others[0] if others else live[0]

class AcceptAboveDialog(QDialog):
    """Pick a confidence threshold; shows how many predictions it would accept."""

    def __init__(self, confidences: Sequence[float | None], threshold: float = 0.5, parent: QWidget | None = None,
                 *, test_confidences: Sequence[float | None] = (), test_models: Sequence[str] = ()) -> None:
        """``test_confidences``: those of ``confidences`` that come from random-weight test
        models (``test_models``); they are left out unless the person ticks the box."""
        super().__init__(parent)
        self.setWindowTitle("Accept predictions above a confidence")
        self._sorted = sorted(c for c in confidences if c is not None)
        self._tests = sorted(c for c in test_confidences if c is not None)
        self._total = len(confidences)
        self.test_models = tuple(test_models)
        self.include_tests = QCheckBox("Accept the test model's predictions too")
        self.include_tests.setVisible(bool(self._tests))
        self.include_tests.toggled.connect(self._update)
        self.test_warning = QLabel("")
        self.test_warning.setObjectName("error")
        self.test_warning.setWordWrap(True)
        self.test_warning.setVisible(bool(self._tests))
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
        layout.addWidget(self.test_warning)
        layout.addWidget(self.include_tests)
        note = QLabel("One undo step (Ctrl+Z) takes them all back.")
        note.setObjectName("muted")
        layout.addWidget(note)
        layout.addWidget(buttons, alignment=Qt.AlignmentFlag.AlignRight)
        self._update()

    @property
    def threshold(self) -> float:
        return float(self.spin.value())

    @property
    def excluded_models(self) -> tuple[str, ...]:
        """Models whose predictions are not to be accepted (test models, unless ticked)."""
        return () if self.include_tests.isChecked() else self.test_models

    def qualifying(self) -> int:
        n = len(self._sorted) - bisect_left(self._sorted, self.threshold)
        if not self.include_tests.isChecked():
            n -= self.qualifying_tests()
        return n

    def qualifying_tests(self) -> int:
        return len(self._tests) - bisect_left(self._tests, self.threshold)

    def _update(self) -> None:
        n = self.qualifying()
        t = self.qualifying_tests()
        self.test_warning.setText(
            f"⚠ {t} prediction(s) at or above this confidence come from a TEST MODEL with random weights "
            f"({', '.join(self.test_models)}): their confidence means nothing. "
            + ("They will be accepted as labels." if self.include_tests.isChecked() else "They are left out.")
        )
        text = f"{n} of {self._total} predictions awaiting review qualify."
        if self._sorted:  # where the confidences lie, so a useful threshold can be picked
            mid = self._sorted[len(self._sorted) // 2]
            text += f"\nConfidences: median {mid:.2f}, highest {self._sorted[-1]:.2f}."
        self.count.setText(text)
        self.ok.setEnabled(n > 0)
