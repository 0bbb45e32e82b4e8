"""The File menu's project side: new project, open (dialog and recent list), add images, locate
a moved images folder, and editing the keypoints of an open project.

:class:`ProjectFiles` opens projects through the ``opener`` it is given (the window composes
what an open project needs); everything slow runs off the UI thread and says what it did.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from labeler.errors import LabelerError
from labeler.gui import background
from labeler.gui.progress_panel import ProgressPanel
from labeler.gui.project_jobs import CreatedProject, create_project
from labeler.gui.schema_dialog import SchemaEdit
from labeler.gui.session import Session
from labeler.gui.settings import AppSettings
from labeler.gui.worker import PropagationRunner
from labeler.store import PROJECT_SUFFIX, Project, Schema, image_file


class ProjectFiles(QObject):
    #: the open project's images folder changed (images must be read again from there)
    relocated = pyqtSignal(object)

    def __init__(self, session: Session, progress: ProgressPanel, settings: AppSettings, runner: PropagationRunner,
                 opener: Callable[[str | Path], bool]) -> None:
        super().__init__(session)
        self.session, self.progress, self.settings, self.runner = session, progress, settings, runner
        self.open_project = opener
        self.parent: QWidget = session.dialog_parent
        self.locate_box: QMessageBox | None = None  # asks to locate a moved images folder
        self.new_dialog: QWidget | None = None  # the New project dialog while it is open
        self.skipped_box: QMessageBox | None = None  # lists the files a new project skipped

    # -- new and open --------------------------------------------------------------------------------
    def new_project_dialog(self, draft: tuple[Path, Path, Schema, str | None] | None = None, message: str = "") -> None:
        from labeler.gui.schema_dialog import NewProjectDialog

        dialog = NewProjectDialog(self.parent)
        if draft is not None:
            dialog.restore(*draft, message=message)
        self.new_dialog = dialog
        accepted = dialog.exec() == NewProjectDialog.DialogCode.Accepted
        self.new_dialog = None
        if not accepted:
            return
        try:
            folder, path, schema, name = dialog.values()
        except LabelerError as exc:
            self.session.show_error(exc)
            return
        self.create_project(folder, path, schema, name, reopen_on_failure=True)

    def create_project(self, folder: Path, path: Path, schema: Schema, name: str | None, *,
                       reopen_on_failure: bool = False) -> background.BackgroundJob:
        """Scan and register the folder off the UI thread, then open the new project. When it
        fails (no images there, none readable, no permission) and ``reopen_on_failure``, the New
        project dialog comes back filled in as it was, with the reason: nothing typed is lost."""
        self.progress.start("Creating project")
        self.progress.stop.setEnabled(False)

        def progress(done: int, total: int, text: str) -> None:
            self.progress.stage.setText(text)
            if total:
                self.progress.bar.setRange(0, total)
                self.progress.bar.setValue(done)

        def done(created: CreatedProject) -> None:
            self.progress.finish()
            if self.open_project(created.path):
                note = f", {len(created.skipped)} unreadable file(s) skipped" if created.skipped else ""
                self.session.say(f"created {created.path} with {created.images} images{note}")
                if created.skipped:
                    self._list_skipped(created.skipped)

        def failed(exc: BaseException) -> None:
            self.progress.finish()
            if reopen_on_failure and isinstance(exc, (LabelerError, OSError)):
                # an OSError here is the disk saying no (no such folder, not writable): the
                # person can fix it in the dialog, so it is not reported as a bug
                text = str(exc) if isinstance(exc, LabelerError) else f"cannot create {path}: {exc}"
                self.session.say(text.splitlines()[0].rstrip(":"), error=True)
                QTimer.singleShot(0, lambda: self.new_project_dialog((folder, path, schema, name), text))
            else:
                self.session.show_error(exc)

        return background.run_in_background(
            lambda report: create_project(folder, path, schema, name, report), done, failed, on_progress=progress
        )

    def _list_skipped(self, skipped) -> None:  # noqa: ANN001
        listed = "\n".join(f"{s.path}: {s.reason}" for s in skipped[:15])
        more = f"\n… and {len(skipped) - 15} more" if len(skipped) > 15 else ""
        box = QMessageBox(QMessageBox.Icon.Information, "Unreadable files skipped",
                          f"{len(skipped)} file(s) could not be read as images and were not added:\n{listed}{more}",
                          QMessageBox.StandardButton.Ok, self.parent)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.skipped_box = box
        box.open()

    def open_project_dialog(self) -> None:
        project = self.session.project
        start = str(Path(project.path).parent) if project else ""
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open project", start,
                                              f"Labeler projects (*{PROJECT_SUFFIX});;All files (*)")
        if path:
            self.open_project(path)

    def fill_recent(self, menu: QMenu) -> None:
        menu.clear()
        recent = self.settings.recent_projects()
        for p in recent:
            a = menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self.open_project(p))
        if not recent:
            menu.addAction("(none yet)").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear list").triggered.connect(self.settings.clear_recent)

    # -- images --------------------------------------------------------------------------------------
    def add_images_dialog(self) -> None:
        project = self.session.project
        if project is None:
            return
        folder = QFileDialog.getExistingDirectory(self.parent, "Add images from a folder inside the images root",
                                                  str(project.images_root))
        if not folder:
            return
        self.progress.start("Adding images")
        self.progress.stop.setEnabled(False)

        def done(report) -> None:  # noqa: ANN001
            self.progress.finish()
            self.session.say(f"added {len(report.added)} image(s); {len(report.skipped)} unreadable file(s) skipped")
            self.session.refresh()

        def failed(exc: BaseException) -> None:
            self.progress.finish()
            self.session.show_error(exc)

        background.run_in_background(lambda: project.add_images(folder, progress=False), done, failed)

    def ask_to_locate_images(self, project: Project) -> None:
        """The project opened but its images folder is gone (moved, renamed, another disk):
        say so once, with a way to fix it (labels are in the project file and are all there)."""
        self.session.say(f"the images folder {project.images_root} is not found: images show as missing", error=True)
        box = QMessageBox(
            QMessageBox.Icon.Warning, "Images folder not found",
            f"The images folder of this project was not found:\n{project.images_root}\n\n"
            "It may have been moved, renamed or be on a disk that is not connected. Your labels are "
            "safe in the project file. Locate the folder now? (Later: File > Locate images folder.)",
            QMessageBox.StandardButton.NoButton, self.parent,
        )
        box.setTextFormat(Qt.TextFormat.PlainText)
        locate = box.addButton("Locate folder…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.buttonClicked.connect(lambda b: self.locate_images_dialog() if b is locate else None)
        self.locate_box = box
        box.open()

    def locate_images_dialog(self) -> None:
        project = self.session.project
        if project is None:
            return
        start = project.images_root if project.images_root_found else Path(project.path).parent
        folder = QFileDialog.getExistingDirectory(self.parent, "Locate the project's images folder", str(start))
        if not folder:
            return
        if not self._images_found_in(project, Path(folder)):
            answer = QMessageBox.question(
                self.parent, "Locate images folder",
                f"None of the project's images were found in\n{folder}\n(for example {project.image_index()[0][1]}).\n"
                "Use this folder anyway?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.relocate_images(Path(folder))

    @staticmethod
    def _images_found_in(project: Project, folder: Path, sample: int = 20) -> bool:
        rows = project.image_index()[:sample]
        return not rows or any(image_file(folder, rel).is_file() for _, rel, _ in rows)

    def relocate_images(self, folder: Path) -> bool:
        """Point the project at ``folder`` (image paths stay relative) and show the images again."""
        project = self.session.project
        if project is None:
            return False
        try:
            project.set_images_root(folder)
        except LabelerError as exc:
            self.session.show_error(exc)
            return False
        self.relocated.emit(project)
        self.session.say(f"images folder is now {project.images_root}")
        return True

    # -- keypoints -----------------------------------------------------------------------------------
    def edit_schema_dialog(self) -> None:
        s = self.session
        if s.project is None:
            return
        if self.runner.running:
            s.say("stop the running propagation before editing keypoints", error=True)
            return
        if s.refuse_if_busy():
            return
        from labeler.gui.schema_dialog import EditSchemaDialog

        dialog = EditSchemaDialog(s.schema, self.parent)
        if dialog.exec() != EditSchemaDialog.DialogCode.Accepted:
            return
        try:
            edit = dialog.editor.edit()
        except LabelerError as exc:
            s.show_error(exc)
            return
        self.change_schema(edit)

    def change_schema(self, edit: SchemaEdit, *, confirm: bool = True) -> background.BackgroundJob | None:
        """Count what removing keypoints deletes (ask first), then apply the edit; both read or
        write every point of the project, so both run off the UI thread (seconds at 10k
        images) while other edits wait."""
        s = self.session
        project = s.project
        if project is None:
            return None
        from labeler.gui.schema_dialog import apply_schema_edit, points_per_keypoint

        def apply() -> None:
            self.progress.start("Updating keypoints")
            self.progress.stop.setEnabled(False)
            s.schema_job = background.run_in_background(lambda: apply_schema_edit(project, edit), applied, failed)

        def applied(schema: Schema) -> None:
            s.schema_job = None
            self.progress.finish()
            if s.project is project:
                s.replace_schema(schema)
                s.say("keypoints updated: " + ", ".join(schema.keypoints))

        def failed(exc: BaseException) -> None:
            s.schema_job = None
            self.progress.finish()
            s.show_error(exc)
            if s.project is project:
                s.replace_schema(project.schema())

        def counted(counts: dict[str, int]) -> None:
            s.schema_job = None
            self.progress.finish()
            if s.project is not project:
                return
            lost = sum(counts.values())
            if lost and confirm:
                listed = ", ".join(f"{n} ({c} points)" for n, c in counts.items())
                answer = QMessageBox.question(
                    self.parent, "Remove keypoints",
                    f"Removing {listed} deletes {lost} point(s). This cannot be undone. Remove them?",
                )
                if answer != QMessageBox.StandardButton.Yes:
                    return
            apply()

        if not edit.removed:
            apply()
        else:
            self.progress.start("Counting the points of removed keypoints")
            self.progress.stop.setEnabled(False)
            s.schema_job = background.run_in_background(
                lambda: points_per_keypoint(project, list(edit.removed)), counted, failed)
        return s.schema_job
