"""A database project's server going away and coming back, as the window shows it.

While the server cannot be reached there is one banner at the top of the window (never a pile
of error dialogs): it says that nothing can be saved and that the app keeps trying. Every
failed save still says "not saved" in the status bar. When a probe reaches the server again
the banner goes and the window reloads what others changed meanwhile.

A controller like the others: given the session and the main window it puts its banner on;
the probe runs on a pool
thread, so an unreachable host (libpq waits up to its connect timeout) never freezes the window.
"""

from __future__ import annotations

from PyQt6.QtCore import QObject, Qt, QTimer
from PyQt6.QtWidgets import QLabel, QMainWindow, QSizePolicy, QToolBar

from labeler.gui import background
from labeler.gui.errors import reporter
from labeler.gui.session import Session
from labeler.store.dialects.postgresql import is_server_unreachable

#: How often the server is probed (database projects only): always while it is down, so the
#: banner goes as soon as it is back; while up, so the banner comes even when nobody edits.
PROBE_MS = 2_000
DOWN_TEXT = ("The database server cannot be reached: nothing you change now can be saved. "
             "labeler keeps trying and reloads the project when the server is back.")


class ConnectionWatch(QObject):
    """The window's view of its database server: up (no banner) or down (one banner)."""

    def __init__(self, session: Session, window: QMainWindow) -> None:
        super().__init__(session)
        self.session, self.window = session, window
        self.down = False
        self.reason = ""
        self.banner = QLabel(DOWN_TEXT)
        self.banner.setObjectName("connectionBanner")
        self.banner.setWordWrap(True)
        self.banner.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)  # the window's width
        self.banner.setStyleSheet("QLabel { background: #7a1f1f; color: white; padding: 6px 10px; font-weight: bold; }")
        self.bar = QToolBar("Connection", window)
        self.bar.setObjectName("connectionBar")
        self.bar.setMovable(False)
        self.bar.setFloatable(False)
        self.bar.toggleViewAction().setVisible(False)  # not a toolbar the user may hide or show
        self.bar.addWidget(self.banner)
        self.bar.hide()
        self._placed = False  # placed when first needed: on a row of its own, below the window's toolbars
        self._probing = None
        self.timer = QTimer(self)
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self.probe)
        self.timer.start()
        reporter().interceptors.append(self.take_error)

    # -- what the window reports -----------------------------------------------------------------
    def take_error(self, exc: BaseException) -> bool:
        """An error on its way to a dialog: a lost server becomes (or stays) the banner."""
        if not is_server_unreachable(exc):
            return False
        self.went_down(str(exc))
        return True

    def went_down(self, reason: str) -> None:
        self.reason = reason
        if self.down:
            return
        self.down = True
        self.banner.setToolTip(reason)
        if not self._placed:
            self.window.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
            self.window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.bar)
            self._placed = True
        self.bar.show()
        self.session.say("not connected to the database server: changes cannot be saved", error=True)

    def came_back(self) -> None:
        if not self.down:
            return
        self.down = False
        self.bar.hide()
        self.session.say("connected to the database server again")
        if self.session.project is not None:
            self.session.refresh_wanted.emit()

    # -- the probe --------------------------------------------------------------------------------
    def probe(self) -> None:
        project = self.session.project
        if project is None or not project.is_database:
            self.came_back()
            return
        if self._probing is not None:
            return  # the last one is still waiting for its answer

        def done(_result: object) -> None:
            self._probing = None
            if self.session.project is project:
                self.came_back()

        def failed(exc: BaseException) -> None:
            self._probing = None
            if self.session.project is not project:
                return
            if is_server_unreachable(exc):
                self.went_down(str(exc))
            # anything else is not this watch's business: the window's own calls report it

        self._probing = background.run_in_background(project.check_connection, done, failed, owner=self.session.dialog_parent)

    def close(self) -> None:
        self.timer.stop()
        if self.take_error in reporter().interceptors:
            reporter().interceptors.remove(self.take_error)
