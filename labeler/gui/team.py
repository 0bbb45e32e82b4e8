"""Working as a team on a PostgreSQL project: opening a database URL, the annotator's name in
the status bar, the claim on the image being labelled, and each machine's own images folder.

A controller (:class:`Team`) given the session, the settings, the status bar and the image list;
it asks the window to open a URL through :attr:`Team.open_requested`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject, QTimer, pyqtSignal
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QInputDialog, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from labeler.errors import LabelerError
from labeler.redaction import shown_location
from labeler.store import Claim, Project
from labeler.store.project import default_user

if TYPE_CHECKING:
    from PyQt6.QtWidgets import QStatusBar

    from labeler.gui.image_list import ImageListPanel
    from labeler.gui.session import Session
    from labeler.gui.settings import AppSettings

USER_KEY = "team/user"
#: Renew the claim on the shown image this often (claims last CLAIM_SECONDS = 5 min).
RENEW_MS = 60_000
#: Look at others' claims this often (one small query; database projects only).
CLAIMS_MS = 2_000


class OpenDatabaseDialog(QDialog):
    """Asks for a project's PostgreSQL URL. Passwords belong in ~/.pgpass or PGPASSWORD, not here."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open database project")
        self.url = QLineEdit(text)
        self.url.setPlaceholderText("postgresql://server/database?schema=birds")
        self.url.setMinimumWidth(460)
        note = QLabel("The password comes from ~/.pgpass, PGPASSWORD or PGSERVICE; it is never stored.")
        note.setObjectName("muted")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Project URL:"))
        layout.addWidget(self.url)
        layout.addWidget(note)
        layout.addWidget(buttons)


class Team(QObject):
    """The window's team features (one per window)."""

    #: a database URL the person asked to open
    open_requested = pyqtSignal(str)

    def __init__(self, session: Session, settings: AppSettings, status_bar: QStatusBar,
                 image_list: ImageListPanel) -> None:
        super().__init__(session)
        self.session, self.settings, self.image_list = session, settings, image_list
        parent = session.dialog_parent
        self.user = str(settings.value(USER_KEY, "") or "") or default_user()
        self.user_button = QPushButton(f"user: {self.user}")
        self.user_button.setFlat(True)
        self.user_button.setToolTip("Who your confirmed points are recorded as (click to change)")
        self.user_button.clicked.connect(self.ask_user)
        status_bar.addPermanentWidget(self.user_button)
        self.claim_label = QLabel("")
        status_bar.addPermanentWidget(self.claim_label)
        self.open_action = QAction("Open &database project…", parent)
        self.open_action.setStatusTip("Open a team project from a PostgreSQL server (postgresql://...)")
        self.open_action.triggered.connect(self.open_dialog)
        self.renew = QTimer(self)
        self.renew.setInterval(RENEW_MS)
        self.renew.timeout.connect(self.claim_current)
        self.claimed: int | None = None
        self.watch = QTimer(self)  # others' claims, for the image list
        self.watch.setInterval(CLAIMS_MS)
        self.watch.timeout.connect(self.show_claims)

    # -- the annotator's name ------------------------------------------------------------------
    def ask_user(self) -> None:
        name, ok = QInputDialog.getText(self.session.dialog_parent, "Your name", "Record my edits as:", text=self.user)
        if ok and name.strip():
            self.set_user(name.strip())

    def set_user(self, name: str) -> None:
        self.user = name
        self.settings.set_value(USER_KEY, name)
        project = self.session.project
        if project is not None and project.user_fixed:
            self.session.say(f"in this project the server records your edits as your database role {project.user}",
                             error=True)
            return
        self.user_button.setText(f"user: {name}")
        if project is not None:
            project.user = name

    # -- opening ---------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        dialog = OpenDatabaseDialog(parent=self.session.dialog_parent)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.url.text().strip():
            self.open_requested.emit(dialog.url.text().strip())

    def opened(self, project: Project) -> None:
        """A project was opened: record edits as this user (where the server does not record the
        database role itself), use this machine's images folder."""
        if project.user_fixed:
            self.user_button.setText(f"user: {project.user} (database role)")
        else:
            project.user = self.user
            self.user_button.setText(f"user: {self.user}")
        if project.is_database:
            root = self.settings.images_root(project.location)
            if root:
                try:
                    project.set_images_root(root)
                except LabelerError:
                    pass  # the remembered folder is gone: the usual "locate images folder" asks
            self.watch.start()
        self.renew.start()

    def relocated(self, project: Project) -> None:
        """The images folder was located: for a database project it is this machine's setting."""
        if project.is_database:
            self.settings.set_images_root(project.location, str(project.images_root))

    def closing(self, project: Project) -> None:
        self.renew.stop()
        self.watch.stop()
        self.image_list.model.set_claims({})
        if self.claimed is not None and project.is_database:
            try:
                project.release_claim(self.claimed)
            except LabelerError:
                pass
        self.claimed = None
        self.claim_label.setText("")

    # -- claims ----------------------------------------------------------------------------------
    def claim_current(self) -> Claim | None:
        """Claim (or renew) the image on screen in a database project; show who holds it."""
        project, current = self.session.project, self.session.current
        if project is None or current is None or not project.is_database:
            self.claim_label.setText("")
            return None
        try:
            if self.claimed is not None and self.claimed != current.id:
                project.release_claim(self.claimed)
            claim = project.claim_image(current.id)
        except LabelerError as exc:
            self.claim_label.setText("")
            self.session.say(str(exc), error=True)
            return None
        self.claimed = current.id if claim.mine else None
        self.claim_label.setText("" if claim.mine else f"being labelled by {claim.user}")
        return claim

    def show_claims(self) -> None:
        """Mark the images others are labelling in the image list."""
        project = self.session.project
        if project is None or not project.is_database:
            return
        try:
            claims = project.claims()
        except LabelerError:
            return  # the server is unreachable for a moment: keep the last picture
        self.image_list.model.set_claims({i: c.user for i, c in claims.items() if not c.mine})

    def expected_versions(self, image_id: int, name: str) -> dict[str, int | None] | None:
        """The version of the point as shown, so an edit over someone else's newer one is refused
        (database projects; a file project has one person at a time)."""
        s = self.session
        if s.project is None or not s.project.is_database:
            return None
        if s.current_id != image_id:
            return None
        shown = s.current_points.get(name)
        return {name: None if shown is None else shown.version}


def title(project: Project) -> str:
    return f"{project.name} — labeler  ({shown_location(project.location)})"
