"""The propagation progress shown in the status bar: stage, bar, images/s, ETA, Stop."""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from labeler.gui.cluster_panel import WorkerStatusLabel
from labeler.gui.style import icon
from labeler.propagation import STAGE_DONE, STAGE_LOADING, STAGE_PREDICTING, STAGE_REFERENCES, ProgressEvent


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def describe(event: ProgressEvent) -> tuple[str, str]:
    """(stage text, rate/ETA text)."""
    stage = {
        STAGE_LOADING: "Loading model",
        STAGE_REFERENCES: "Preparing references",
        STAGE_PREDICTING: "Predicting",
        STAGE_DONE: "Done",
    }.get(event.stage, event.stage)
    if event.stage == STAGE_PREDICTING and event.total:
        stage = f"Predicting {event.done}/{event.total}"
    rate = []
    if event.images_per_s:
        rate.append(f"{event.images_per_s:.2f} img/s" if event.images_per_s < 10 else f"{event.images_per_s:.0f} img/s")
    if event.eta_s is not None and event.stage == STAGE_PREDICTING and event.done < event.total:
        rate.append(f"ETA {format_eta(event.eta_s)}")
    return stage, "  ".join(rate)


class ProgressPanel(QWidget):
    stop_clicked = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stage = QLabel("")
        self.bar = QProgressBar()
        self.bar.setFixedWidth(220)
        self.bar.setTextVisible(True)
        self.rate = QLabel("")
        self.rate.setObjectName("muted")
        self.stop = QToolButton()
        self.stop.setIcon(icon("stop"))
        self.stop.setText("Stop")
        self.stop.setToolTip("Stop propagation (Esc): finished batches stay")
        self.stop.clicked.connect(self.stop_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.stage)
        layout.addWidget(self.bar)
        layout.addWidget(self.rate)
        self.workers = WorkerStatusLabel()  # a Ray run's workers
        layout.addWidget(self.workers)
        layout.addWidget(self.stop)
        self.last_event: ProgressEvent | None = None
        self.setVisible(False)

    def start(self, text: str = "Starting") -> None:
        self.stage.setText(text)
        self.bar.setRange(0, 0)  # busy until the first count arrives
        self.rate.setText("")
        self.workers.setVisible(False)
        self.stop.setEnabled(True)
        self.setVisible(True)

    def update_event(self, event: ProgressEvent) -> None:
        self.last_event = event
        stage, rate = describe(event)
        self.stage.setText(stage)
        self.rate.setText(rate)
        if event.stage == STAGE_LOADING or event.total <= 0:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, event.total)
            self.bar.setValue(min(event.done, event.total))

    def stopping(self) -> None:
        ev = self.last_event
        if ev is None or ev.stage == STAGE_LOADING:  # a model load cannot be interrupted
            text = "Stopping once the model has loaded (nothing will be predicted)…"
        elif ev.stage == STAGE_REFERENCES:
            text = "Stopping after this step…"
        else:
            text = "Stopping after this batch…"
        self.stage.setText(text)
        self.stop.setEnabled(False)

    def finish(self) -> None:
        self.setVisible(False)
