"""Actions that the CLI had and the window lacked: remove images (the missing ones, or those
selected in the list), the SPair export's options, and clearing the reference cache.

Each asks before it deletes anything, runs its store work off the UI thread, and says what it did.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject, Qt
from PyQt6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from labeler.errors import LabelerError
from labeler.gui import background

if TYPE_CHECKING:
    from labeler.formats.spair import SPairExportConfig
    from labeler.gui.image_list import ImageListPanel
    from labeler.gui.progress_panel import ProgressPanel
    from labeler.gui.session import Session
    from labeler.gui.worker import PropagationRunner


# -- removing images ---------------------------------------------------------------------------
def confirm_remove(parent: QWidget, paths: list[str], confirmed: int, why: str) -> bool:
    listed = "\n".join(paths[:12]) + (f"\n… and {len(paths) - 12} more" if len(paths) > 12 else "")
    lost = f" Their {confirmed} confirmed point(s) are deleted with them." if confirmed else ""
    box = QMessageBox(
        QMessageBox.Icon.Warning, "Remove images",
        f"Remove {len(paths)} {why} image(s) from the project?{lost} The files are not touched. "
        f"This cannot be undone.\n\n{listed}",
        QMessageBox.StandardButton.NoButton, parent,
    )
    box.setTextFormat(Qt.TextFormat.PlainText)
    remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is remove


class ProjectActions(QObject):
    """Remove images and clear the reference cache; both refused while a propagation runs."""

    def __init__(self, session: Session, image_list: ImageListPanel, progress: ProgressPanel,
                 runner: PropagationRunner) -> None:
        super().__init__(session)
        self.session, self.image_list, self.progress, self.runner = session, image_list, progress, runner
        self.remove_job: background.BackgroundJob | None = None  # images being removed

    def remove_images(self, *, missing: bool) -> background.BackgroundJob | None:
        """Remove the images selected in the list (``missing`` False) or every image whose file is
        gone (True: the files are looked for first, off the UI thread)."""
        session = self.session
        project = session.project
        if project is None:
            return None
        if self.runner.running:
            session.say("stop the running propagation before removing images", error=True)
            return None
        selected = [] if missing else self.image_list.selected_ids()
        if not missing and not selected:
            session.say("select images in the list first (Ctrl+click, Shift+click)", error=True)
            return None

        def survey() -> tuple[list[int], list[str], int]:
            images = project.check_missing() if missing else [project.image(i) for i in selected]
            confirmed = sum(1 for im in images for p in project.points(im.id).values() if p.confirmed)
            return [im.id for im in images], [im.path for im in images], confirmed

        def ask(found: tuple[list[int], list[str], int]) -> None:
            ids, paths, confirmed = found
            if session.project is not project:
                return
            if not ids:
                session.say("no image to remove: every file is there" if missing else "nothing selected")
                return
            if not confirm_remove(session.dialog_parent, paths, confirmed, "missing" if missing else "selected"):
                return
            self.progress.start(f"Removing {len(ids)} image(s)")
            self.progress.stop.setEnabled(False)
            self.remove_job = background.run_in_background(lambda: project.remove_images(ids),
                                                           lambda n: removed(n, ids), failed)

        def removed(n: int, ids: list[int]) -> None:
            self.remove_job = None
            self.progress.finish()
            if session.project is not project:
                return
            session.undo_stack.clear()  # its snapshots name rows that are gone
            for image_id in ids:
                self.image_list.model.set_missing(image_id, False)
            session.say(f"removed {n} image(s) from the project (files not touched)")
            session.images_removed.emit(set(ids))

        def failed(exc: BaseException) -> None:
            self.remove_job = None
            self.progress.finish()
            session.show_error(exc)

        return background.run_in_background(survey, ask, failed)

    def clear_cache(self, *, confirm: bool = True) -> background.BackgroundJob | None:
        session = self.session
        project = session.project
        if project is None:
            return None
        if self.runner.running:
            session.say("stop the running propagation before clearing the cache", error=True)
            return None
        if confirm:
            answer = QMessageBox.question(
                session.dialog_parent, "Clear the reference cache",
                "Delete every cached reference state of this project? Labels are not touched; the next "
                "propagation prepares its references again (slower once).",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return None
        return background.run_in_background(
            project.clear_cache, lambda n: session.say(f"cleared the reference cache: {n} entr{'y' if n == 1 else 'ies'}"),
            session.show_error)


# -- SPair export options ----------------------------------------------------------------------
class SPairExportDialog(QDialog):
    """Where to write, split ratio, how many pairs, seed, and predictions as a separate choice."""

    def __init__(self, default_out: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export SPair pairs")
        self.out = QLineEdit(str(default_out))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.out, 1)
        row.addWidget(browse)
        self.split = QLineEdit("0.8, 0.1, 0.1")
        self.split.setToolTip("shares of images for trn, val, test (e.g. 8:1:1); splits never share an image")
        self.max_pairs = QSpinBox()
        self.max_pairs.setRange(0, 10_000_000)
        self.max_pairs.setSpecialValueText("all")
        self.max_pairs.setToolTip("at most this many pairs in all (a seeded sample); all: every pair")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.predictions = QCheckBox("Include predictions awaiting review (not checked by a person)")
        self.overwrite = QCheckBox("Replace an earlier labeler export in that folder")
        self.overwrite.setChecked(True)
        note = QLabel("Without predictions only confirmed points are written (placed, accepted, corrected); "
                      "skipped and no-object images are left out.")
        note.setObjectName("muted")
        note.setWordWrap(True)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Folder", row)
        form.addRow("Split trn, val, test", self.split)
        form.addRow("Max pairs", self.max_pairs)
        form.addRow("Seed", self.seed)
        form.addRow("", self.predictions)
        form.addRow("", self.overwrite)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export SPair pairs into", str(Path(self.out.text()).parent))
        if folder:
            self.out.setText(str(Path(folder) / Path(self.out.text()).name))

    def values(self) -> tuple[Path, SPairExportConfig, bool]:
        """(output folder, config, include predictions); raises LabelerError for bad input."""
        from labeler.formats.spair import SPairExportConfig, parse_split_ratio

        text = self.out.text().strip()
        if not text:
            raise LabelerError("choose the folder to write the pairs into")
        try:
            ratio = parse_split_ratio(self.split.text())
        except LabelerError as exc:  # the CLI's wording names its option; here it is this field
            raise LabelerError(str(exc).replace("--split-ratio", "the split")) from None
        config = SPairExportConfig(
            split_ratio=ratio,
            max_pairs=self.max_pairs.value() or None,
            seed=self.seed.value(),
            overwrite=self.overwrite.isChecked(),
        )
        return Path(text).expanduser(), config, self.predictions.isChecked()

    def _accept(self) -> None:
        try:
            self.values()
        except LabelerError as exc:
            self.error.setText(str(exc))
            return
        self.accept()
