"""Propagate, re-propagate and stop, as the window's Propagate menu and status bar show them.

The controller owns no thread: :class:`~labeler.gui.worker.PropagationRunner` runs the one
propagation code path; this turns its signals into the progress panel, messages, the run log
and the list of images that failed, and remembers the last settings for re-propagate.
"""

from __future__ import annotations

import dataclasses
import json
import logging

from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QMessageBox, QPushButton

from labeler.errors import LabelerError
from labeler.gui.progress_panel import ProgressPanel
from labeler.gui.run_log import RunLog
from labeler.gui.session import Session
from labeler.gui.settings import AppSettings
from labeler.gui.worker import PropagationRunner
from labeler.propagation import ProgressEvent, PropagationConfig, PropagationSummary

log = logging.getLogger(__name__)


class PropagationControl(QObject):
    #: image ids a batch just wrote predictions for
    predicted = pyqtSignal(object)
    #: a propagation ended (done, stopped or failed): new predictions may await review
    ended = pyqtSignal()

    def __init__(self, session: Session, runner: PropagationRunner, progress: ProgressPanel, run_log: RunLog,
                 settings: AppSettings) -> None:
        super().__init__(session)
        self.session, self.runner, self.progress, self.run_log, self.settings = (
            session, runner, progress, run_log, settings)
        self.repropagate_box: QMessageBox | None = None  # says how re-propagate will run, before it does
        self.actions: dict[str, QAction] = {}  # stop_propagation, propagate, repropagate (see attach)
        self.buttons: list[QPushButton] = []
        runner.progress.connect(self._progress)
        runner.images_updated.connect(self.predicted)
        runner.finished.connect(self._finished)
        runner.failed.connect(self._failed)
        runner.workers.connect(lambda statuses: progress.workers.show_workers(statuses))
        runner.running_changed.connect(self._running_changed)

    def attach(self, actions: dict[str, QAction], repropagate_button: QPushButton) -> None:
        """The actions whose enabled state follows whether a propagation runs."""
        self.actions = {k: actions[k] for k in ("stop_propagation", "propagate", "repropagate")}
        self.buttons = [repropagate_button]

    # -- settings remembered between runs -----------------------------------------------------------
    def remembered_config(self) -> PropagationConfig | None:
        if self.runner.last_config is not None:
            return self.runner.last_config
        data = self.settings.value("propagate/last")
        if not data:
            return None
        try:
            d = json.loads(data)
            return PropagationConfig(**{k: v for k, v in d.items() if k not in ("images", "image_ids", "force")})
        except (TypeError, ValueError):
            return None

    def remember_config(self, config: PropagationConfig) -> None:
        d = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        d["overrides"] = dict(config.overrides)
        d["image_ids"] = None
        self.settings.set_value("propagate/last", json.dumps(d, default=str))

    # -- starting and stopping ------------------------------------------------------------------------
    def dialog(self) -> None:
        project = self.session.project
        if project is None:
            return
        if self.runner.running:
            self.session.say("a propagation is already running (Esc stops it)", error=True)
            return
        from labeler.gui.propagate_dialog import PropagateDialog

        dialog = PropagateDialog(project, self.remembered_config(), self.session.dialog_parent,
                                 cluster=self.runner.last_cluster)
        if dialog.exec() != PropagateDialog.DialogCode.Accepted:
            return
        try:
            config, cluster = dialog.config(), dialog.cluster()
        except LabelerError as exc:
            self.session.show_error(exc)
            return
        self.start(config, cluster)

    def start(self, config: PropagationConfig, cluster=None) -> bool:  # noqa: ANN001 - ClusterOptions | None
        project = self.session.project
        if project is None:
            return False
        if not self.runner.start(project, config, cluster):
            self.session.say("a propagation is already running", error=True)
            return False
        self.remember_config(config)
        self.progress.start(f"Starting {config.method}")
        return True

    def repropagate(self) -> None:
        """Predict the unreviewed images again with the last settings; corrections and accepted
        points are references now, so every image predicted from older references is stale.
        Says which method and model first (nothing starts unseen)."""
        config = self.remembered_config()
        if config is None:
            self.dialog()
            return
        if self.runner.running:
            self.session.say("a propagation is already running (Esc stops it)", error=True)
            return
        from labeler.gui.propagate_dialog import RepropagateBox

        config = dataclasses.replace(config, images=None, image_ids=None, force=False)
        box = self.repropagate_box = RepropagateBox(config, self.session.dialog_parent)

        def clicked(button) -> None:  # noqa: ANN001
            self.repropagate_box = None
            if button is box.run_button:
                self.start(config, self.runner.last_cluster)
            elif button is box.change_button:
                self.dialog()

        box.buttonClicked.connect(clicked)
        box.open()

    def stop(self) -> None:
        if self.runner.running and not self.runner.stopping:
            self.runner.stop()
            self.progress.stopping()
            if "stop_propagation" in self.actions:
                self.actions["stop_propagation"].setEnabled(False)  # asked once; the panel says when it ends

    # -- the runner's signals -------------------------------------------------------------------------
    def _progress(self, event: ProgressEvent) -> None:
        self.progress.update_event(event)
        if event.notice and event.message:
            self.session.say(event.message)

    def _finished(self, summary: PropagationSummary) -> None:
        self.progress.finish()
        self.ended.emit()
        what = "stopped" if summary.stopped else "done"
        text = (f"propagation {what}: {summary.predicted_images} image(s) predicted, "
                f"{summary.skipped_up_to_date} up to date, {summary.seconds:.1f} s on {summary.device}")
        if summary.failed:
            text += f", {len(summary.failed)} failed"
        self.session.say(text)
        for m in summary.messages:
            log.info("propagation: %s", m)
            self.run_log.add(f"  {m}")
        if summary.failed:
            listed = "\n".join(f"{p}: {r}" for p, r in summary.failed[:15])
            more = f"\n… and {len(summary.failed) - 15} more" if len(summary.failed) > 15 else ""
            box = QMessageBox(QMessageBox.Icon.Warning, "Some images were not predicted",
                              f"{len(summary.failed)} image(s) could not be predicted:\n{listed}{more}",
                              QMessageBox.StandardButton.Ok, self.session.dialog_parent)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
            box.open()
        self.session.refresh()

    def _failed(self, message: str, details: str) -> None:
        self.progress.finish()
        if details:
            from labeler.gui.errors import reporter

            reporter().parent_widget = self.session.dialog_parent
            reporter().report(RuntimeError(message), details)
        else:
            self.session.show_error(LabelerError(message))
        self.session.refresh()

    def _running_changed(self, running: bool) -> None:
        has = self.session.project is not None
        if self.actions:
            self.actions["stop_propagation"].setEnabled(running)
            self.actions["propagate"].setEnabled(not running and has)
            self.actions["repropagate"].setEnabled(not running and has)
        for b in self.buttons:
            b.setEnabled(not running and has)
