"""Errors never crash the window: every unhandled exception is logged and shown as a dialog.

A :class:`~labeler.errors.LabelerError` is the user's to fix and is shown verbatim; anything
else is a bug: the dialog says so, says the labels are safe (every edit is committed when it is
made), and where the log with the traceback is.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType

from PyQt6 import sip
from PyQt6.QtCore import QObject, Qt, pyqtSignal, pyqtSlot
from PyQt6.QtWidgets import QApplication, QMessageBox, QWidget

from labeler.display import clean_message
from labeler.errors import LabelerError
from labeler.paths import cache_dir

log = logging.getLogger("labeler.gui")

MAX_OPEN_DIALOGS = 3


def log_path() -> Path:
    return cache_dir() / "gui.log"


def setup_logging(path: Path | None = None) -> Path:
    path = path or log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("labeler")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return path


def describe(exc: BaseException) -> tuple[str, str]:
    """(title, text) for a dialog."""
    if isinstance(exc, LabelerError):
        return "labeler", clean_message(str(exc))  # names from files: no control characters, no 100 MB lines
    return (
        "Something went wrong",
        f"{type(exc).__name__}: {exc}\n\nYour labels are safe: every edit is saved the moment it is made. "
        f"This is a bug in labeler; the details are in {log_path()}.",
    )


class ErrorReporter(QObject):
    """Shows errors as non-blocking dialogs; callable from any thread (queued to the UI)."""

    _report = pyqtSignal(object, str)

    def __init__(self, parent_widget: QWidget | None = None) -> None:
        super().__init__()
        self.parent_widget = parent_widget
        self.dialogs: list[QMessageBox] = []
        self.suppressed = 0
        self.shown: list[str] = []  # texts shown (tests, diagnostics)
        #: Callables that may take an error over (True: handled, no dialog), e.g. a lost server
        #: shown once as a banner (labeler.gui.connection).
        self.interceptors: list = []
        self._report.connect(self._show)

    def report(self, exc: BaseException, details: str = "") -> None:
        self._report.emit(exc, details)

    @pyqtSlot(object, str)
    def _show(self, exc: BaseException, details: str) -> None:
        if any(take(exc) for take in self.interceptors):
            return
        self.dialogs = [d for d in self.dialogs if not sip.isdeleted(d) and d.isVisible()]
        title, text = describe(exc)
        self.shown.append(text)
        if len(self.dialogs) >= MAX_OPEN_DIALOGS:
            self.suppressed += 1
            return
        icon = QMessageBox.Icon.Warning if isinstance(exc, LabelerError) else QMessageBox.Icon.Critical
        parent = self.parent_widget if self.parent_widget is not None and not sip.isdeleted(self.parent_widget) else None
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
        box.setTextFormat(Qt.TextFormat.PlainText)  # paths and keypoint names are not markup
        if details and not isinstance(exc, LabelerError):
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialogs.append(box)
        box.open()


_reporter: ErrorReporter | None = None


def reporter() -> ErrorReporter:
    global _reporter
    if _reporter is None:
        _reporter = ErrorReporter()
    return _reporter


def show_error(exc: BaseException, parent: QWidget | None = None) -> None:
    """Show an error now (UI thread) or soon (any other thread)."""
    r = reporter()
    if parent is not None:
        r.parent_widget = parent
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    r.report(exc, details)


def excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        app = QApplication.instance()
        if app is not None:
            app.quit()
        return
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    if isinstance(exc, LabelerError):
        log.warning("%s", exc)
    else:
        log.error("unhandled exception:\n%s", details)
        print(details, file=sys.stderr)
    reporter().report(exc, details)


def _thread_hook(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        excepthook(args.exc_type, args.exc_value, args.exc_traceback)


def install_exception_hook(parent: QWidget | None = None) -> None:
    """Route unhandled exceptions (Qt slots, Python threads) to the log and a dialog."""
    reporter().parent_widget = parent
    sys.excepthook = excepthook
    threading.excepthook = _thread_hook
