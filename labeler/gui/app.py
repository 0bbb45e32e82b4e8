"""Starting the app: QApplication, look, the global exception hook, the main window."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication

from labeler.gui.errors import install_exception_hook, setup_logging
from labeler.gui.style import icon, stylesheet


def create_app(argv: Sequence[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv or sys.argv[:1]))
    assert isinstance(app, QApplication)
    app.setApplicationName("labeler")
    app.setOrganizationName("labeler")
    app.setApplicationDisplayName("labeler")
    app.setStyle("Fusion")
    app.setStyleSheet(stylesheet())
    app.setWindowIcon(icon("app"))
    return app


def run_app(project: str | Path | None = None) -> int:
    """Open the window (on ``project``, else the most recent project) and run until it closes."""
    setup_logging()
    app = create_app()
    from labeler.gui.main_window import MainWindow

    window = MainWindow()
    install_exception_hook(window)
    window.show()
    if project is not None:
        window.open_project(project)
    else:
        from labeler.store.location import is_url

        recent = [p for p in window.settings.recent_projects() if is_url(p) or Path(p).is_file()]
        if recent:
            window.open_project(recent[0])
    # import torch & co. in the background now, so the first propagation does not stall the UI
    from labeler.gui.worker import warm_up

    QTimer.singleShot(1500, warm_up)
    # Ctrl-C in the terminal closes the window like the Quit action (Python sees signals only
    # when it runs, hence the idle timer).
    signal.signal(signal.SIGINT, lambda *_: window.close())
    tick = QTimer()
    tick.timeout.connect(lambda: None)
    tick.start(250)
    code = int(app.exec())
    if not window.shut_down_cleanly:
        # A model that is still loading cannot be interrupted; everything is committed, so end
        # the process instead of waiting (or crashing on a running QThread at exit).
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
