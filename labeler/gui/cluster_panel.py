"""Run on: this machine or a Ray cluster (the propagate dialog's choice), and the per-worker
status of a cluster run. Ray is imported only once a cluster run starts (in the worker thread).
"""

from __future__ import annotations

from collections.abc import Sequence

from PyQt6.QtWidgets import (
    QButtonGroup,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QWidget,
)

from labeler.cluster.connection import LOCAL, ClusterOptions

AUTO_TEXT = "auto"


class RunOnBox(QGroupBox):
    """This machine (the default) or a Ray cluster: ``local``, ``auto`` or the head's HOST:PORT."""

    def __init__(self, initial: ClusterOptions | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Run on", parent)
        self.here = QRadioButton("This machine")
        self.ray = QRadioButton("Ray cluster")
        group = QButtonGroup(self)
        group.addButton(self.here)
        group.addButton(self.ray)
        self.address = QLineEdit()
        self.address.setPlaceholderText("local, auto or HOST:PORT of the head (ray start --head)")
        self.address.setToolTip("local starts Ray on this machine; workers read images from the same folder path")
        self.workers = QSpinBox()
        self.workers.setRange(0, 1024)
        self.workers.setSpecialValueText("one per GPU")
        self.gpus = QDoubleSpinBox()
        self.gpus.setRange(-1, 8)
        self.gpus.setSingleStep(0.5)
        self.gpus.setSpecialValueText("auto")
        self.gpus.setToolTip("GPUs per worker: auto = 1 when the cluster has GPUs, else a CPU worker; 0.5 = two per GPU")
        row = QHBoxLayout()
        row.addWidget(self.here)
        row.addWidget(self.ray)
        row.addStretch(1)
        form = self._form = QFormLayout(self)
        form.addRow(row)
        form.addRow("Address", self.address)
        form.addRow("Workers", self.workers)
        form.addRow("GPUs per worker", self.gpus)
        self.here.toggled.connect(self._enable)
        self.load(initial)

    def load(self, options: ClusterOptions | None) -> None:
        (self.ray if options is not None else self.here).setChecked(True)
        options = options or ClusterOptions()
        self.address.setText(options.address or LOCAL)
        self.workers.setValue(options.workers or 0)
        self.gpus.setValue(-1 if options.gpus_per_worker is None else options.gpus_per_worker)
        self._enable()

    def _enable(self) -> None:
        on = self.ray.isChecked()
        for w in (self.address, self.workers, self.gpus):
            w.setEnabled(on)
            self._form.setRowVisible(w, on)  # the propagate dialog must fit a 1280x800 screen

    def options(self) -> ClusterOptions | None:
        """None for this machine; raises a LabelerError for a bad address."""
        if not self.ray.isChecked():
            return None
        gpus = self.gpus.value()
        options = ClusterOptions(
            address=self.address.text().strip() or LOCAL,
            workers=self.workers.value() or None,
            gpus_per_worker=None if gpus < 0 else gpus,
        )
        options.check()
        return options


def describe_workers(statuses: Sequence) -> tuple[str, str]:  # noqa: ANN001 - WorkerStatus
    """(one short line for the status bar, one line per worker for its tooltip)."""
    busy = sum(1 for s in statuses if s.state == "busy")
    dead = sum(1 for s in statuses if s.state == "dead")
    short = f"Ray: {len(statuses)} worker(s), {busy} busy" + (f", {dead} gone" if dead else "")
    return short, "\n".join(s.describe() for s in statuses)


class WorkerStatusLabel(QLabel):
    """The cluster's workers in the progress panel (hidden for a run on this machine)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("muted")
        self.setVisible(False)

    def show_workers(self, statuses: Sequence) -> None:  # noqa: ANN001
        short, detail = describe_workers(statuses)
        self.setText(short)
        self.setToolTip(detail)
        self.setVisible(bool(statuses))
