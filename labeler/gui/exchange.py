"""File > Export and File > Import for the formats trainers read (COCO, SPair pairs, Ultralytics
YOLO pose, DeepLabCut). Each runs off the UI thread with a progress bar in the status bar and
ends with a summary of what it wrote or read; bad input is a dialog, never a crash."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PyQt6.QtCore import QObject, Qt
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

from labeler.errors import UserInputError
from labeler.gui import background
from labeler.gui.project_actions import SPairExportDialog
from labeler.gui.style import icon

if TYPE_CHECKING:
    from PyQt6.QtWidgets import QStatusBar

    from labeler.gui.session import Session


class TaskProgress(QWidget):
    """Status-bar progress of one export or import (apart from propagation's panel, which may be busy)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("")
        self.bar = QProgressBar()
        self.bar.setFixedWidth(180)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self.setVisible(False)

    def start(self, text: str) -> None:
        self.label.setText(text)
        self.bar.setRange(0, 0)
        self.setVisible(True)

    def report(self, done: int, total: int, text: str) -> None:
        if text:
            self.label.setText(text)
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))

    def finish(self) -> None:
        self.setVisible(False)


@dataclass
class ExportChoice:
    out: Path
    split_train: float = 0.8
    images: str = "link"
    predicted: bool = False
    overwrite: bool = False
    scorer: str = "labeler"


class ExportDialog(QDialog):
    """Where to write a YOLO or DeepLabCut export, and its few options."""

    def __init__(self, fmt: str, start: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fmt = fmt
        self.setWindowTitle("Export YOLO pose dataset" if fmt == "yolo" else "Export DeepLabCut labelled data")
        form = QFormLayout(self)
        self.folder = QLineEdit(str(start))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form.addRow("Folder to write (new or empty):", row)
        self.train = QDoubleSpinBox()
        self.train.setRange(0.05, 1.0)
        self.train.setSingleStep(0.05)
        self.train.setValue(0.8)
        self.train.setToolTip("Share of images in train; the rest go to val (split by a hash of each image's path)")
        self.scorer = QLineEdit("labeler")
        self.scorer.setToolTip("The scorer of your DeepLabCut project's config.yaml")
        if fmt == "yolo":
            form.addRow("Train share:", self.train)
        else:
            form.addRow("Scorer:", self.scorer)
        self.images = QComboBox()
        self.images.addItems(["link", "copy"])
        self.images.setToolTip("Link the images (no extra disk space) or copy them; EXIF-rotated ones are written upright")
        form.addRow("Images:", self.images)
        self.predicted = QCheckBox("Include predictions awaiting review")
        form.addRow(self.predicted)
        self.overwrite = QCheckBox("Replace an earlier labeler export in that folder")
        form.addRow(self.overwrite)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Folder to write into", str(Path(self.folder.text()).parent))
        if chosen:
            self.folder.setText(chosen)

    def choice(self) -> ExportChoice:
        return ExportChoice(
            out=Path(self.folder.text().strip()),
            split_train=round(self.train.value(), 4),
            images=self.images.currentText(),
            predicted=self.predicted.isChecked(),
            overwrite=self.overwrite.isChecked(),
            scorer=self.scorer.text(),
        )


def _export_summary(fmt: str, report: Any) -> tuple[str, list[str]]:
    if fmt == "yolo":
        splits = ", ".join(f"{s} {n}" for s, n in report.images.items() if n)
        line = (f"wrote {report.root}: {sum(report.images.values())} images ({splits}), {report.instances} instances, "
                f"{report.points} points, {report.backgrounds} background images")
        return line, [f"Train: yolo pose train data={report.root / 'data.yaml'} model=yolo11n-pose.pt", *report.notes]
    line = (f"wrote {report.root}: {sum(report.folders.values())} images in {len(report.folders)} labeled-data "
            f"folder(s), {report.points} points" + (", .csv and .h5" if report.h5_written else ", .csv"))
    return line, [f"Scorer {report.csv_files[0].stem.removeprefix('CollectedData_')}: merge config.yaml into your "
                  "DeepLabCut project, then deeplabcut.create_training_dataset(config_path)", *report.notes]


def _import_summary(source: str, report: Any) -> tuple[str, list[str]]:
    m = report.merge
    line = (f"imported {source}: {report.matched} images matched, {m.written} points written, "
            f"{m.predictions_written} predictions, {m.unchanged} unchanged")
    lines = [f"note: {n}" for n in report.notes]
    if m.schema_created:
        lines.insert(0, "The project's keypoints were taken from the file.")
    if m.conflicts:
        lines.append(f"{len(m.conflicts)} confirmed points differed (resolved as you chose)")
    lost = [item for item in report.not_imported if item[2] > 0]
    if lost:
        lines.append(f"{report.points_not_imported} points of {len(lost)} images were NOT imported:")
        lines += [f"  {name}: {why} ({n} points)" for name, why, n in lost[:15]]
        if len(lost) > 15:
            lines.append(f"  ... and {len(lost) - 15} more")
    return line, lines


class Exchange(QObject):
    """The window's Export and Import submenus and the jobs behind them."""

    def __init__(self, session: Session, status_bar: QStatusBar) -> None:
        super().__init__(session)
        self.session = session
        self.parent = session.dialog_parent  # what dialogs and boxes are shown over
        self.progress = TaskProgress()
        status_bar.addPermanentWidget(self.progress)
        self.job: background.BackgroundJob | None = None
        self.last_summary: tuple[str, list[str]] | None = None
        self.summary_box: QMessageBox | None = None
        self.actions: dict[str, QAction] = {}
        for key, text, slot in (
            ("export_yolo", "Export &YOLO pose dataset…", lambda: self.export_dialog("yolo")),
            ("export_dlc", "Export &DeepLabCut labelled data…", lambda: self.export_dialog("dlc")),
            ("import_coco", "Import &COCO keypoints…", lambda: self.import_dialog("coco")),
            ("import_yolo", "Import &YOLO pose dataset…", lambda: self.import_dialog("yolo")),
            ("import_dlc", "Import &DeepLabCut labelled data…", lambda: self.import_dialog("dlc")),
        ):
            a = QAction(icon("export" if key.startswith("export") else "open"), text, self.parent)
            a.triggered.connect(lambda _=False, s=slot: s())
            self.actions[key] = a

    def install(self, file_menu: QMenu, existing: list[QAction]) -> None:
        """Gather the exports (``existing``: the window's own, COCO and SPair) in File > Export and
        add File > Import, where the export actions were."""
        acts = file_menu.actions()
        last = max((i for i, a in enumerate(acts) if a in existing), default=len(acts) - 1)
        before = acts[last + 1] if last + 1 < len(acts) else None
        export_menu = QMenu("&Export", self.parent)
        import_menu = QMenu("&Import", self.parent)
        for a in (*existing, self.actions["export_yolo"], self.actions["export_dlc"]):
            export_menu.addAction(a)
        for k in ("import_coco", "import_yolo", "import_dlc"):
            import_menu.addAction(self.actions[k])
        for a in existing:
            file_menu.removeAction(a)
        for menu in (export_menu, import_menu):
            if before is None:
                file_menu.addMenu(menu)
            else:
                file_menu.insertMenu(before, menu)
        self.export_menu, self.import_menu = export_menu, import_menu

    # -- export --------------------------------------------------------------------------------
    def export_dialog(self, fmt: str) -> None:
        project = self.session.project
        if project is None:
            return
        start = Path(project.path).with_name(f"{Path(project.path).stem}-{fmt}")
        dialog = ExportDialog(fmt, start, self.parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.export(fmt, dialog.choice())

    def export(self, fmt: str, choice: ExportChoice) -> background.BackgroundJob | None:
        project = self.session.project
        if project is None or self._busy():
            return None
        if fmt == "yolo":
            from labeler.formats.yolo import export_yolo

            train = min(1.0, max(0.0, choice.split_train))
            ratio = (train, round(1.0 - train, 6))

            def work(report: Callable[[int, int, str], None]) -> Any:
                return export_yolo(project, choice.out, split_ratio=ratio, predicted=choice.predicted,
                                   images=choice.images, overwrite=choice.overwrite, progress=report)
        else:
            from labeler.formats.dlc import export_dlc

            def work(report: Callable[[int, int, str], None]) -> Any:
                return export_dlc(project, choice.out, scorer=choice.scorer, predicted=choice.predicted,
                                  images=choice.images, overwrite=choice.overwrite, progress=report)

        name = "YOLO pose" if fmt == "yolo" else "DeepLabCut"
        def failed(exc: BaseException) -> None:
            if isinstance(exc, UserInputError) and "--overwrite" in str(exc):  # the CLI's words; here it is a box
                exc = UserInputError(str(exc).replace("add --overwrite", 'tick "Replace an earlier labeler export"'))
            self.session.write_failed(choice.out, exc)

        return self._run(f"Exporting {name}", work, lambda r: self._show(*_export_summary(fmt, r), title=f"{name} export"),
                         failed)

    # -- import --------------------------------------------------------------------------------
    def import_dialog(self, fmt: str) -> None:
        project = self.session.project
        if project is None:
            return
        where = str(Path(project.path).parent)
        if fmt == "coco":
            path, _ = QFileDialog.getOpenFileName(self.parent, "Import COCO keypoints", where, "COCO JSON (*.json)")
        elif fmt == "yolo":
            path, _ = QFileDialog.getOpenFileName(self.parent, "Import YOLO pose dataset: its data.yaml", where,
                                                  "YOLO data.yaml (*.yaml *.yml)")
        else:
            path, _ = QFileDialog.getOpenFileName(self.parent, "Import DeepLabCut labelled data", where,
                                                  "CollectedData (CollectedData_*.csv CollectedData_*.h5)")
        if path:
            self.import_file(fmt, Path(path))

    def import_file(self, fmt: str, path: Path, *, on_conflict: str = "error") -> background.BackgroundJob | None:
        session = self.session
        project = session.project
        if project is None or self._busy() or session.refuse_if_busy():
            return None

        def work(report: Callable[[int, int, str], None]) -> Any:
            if fmt == "coco":
                from labeler.formats.coco import import_coco

                return import_coco(project, path, on_conflict=on_conflict, progress=False)  # type: ignore[arg-type]
            if fmt == "yolo":
                from labeler.formats.yolo import import_yolo

                return import_yolo(project, path, on_conflict=on_conflict, progress=report)  # type: ignore[arg-type]
            from labeler.formats.dlc import import_dlc

            return import_dlc(project, path, on_conflict=on_conflict, progress=report)  # type: ignore[arg-type]

        def done(report: Any) -> None:
            if report.merge.schema_created:
                session.replace_schema(project.schema())
            else:
                session.refresh()
            self._show(*_import_summary(path.name, report), title="Import")

        def failed(exc: BaseException) -> None:
            from labeler.store import MergeConflict
            from labeler.store.merge_ops import conflict_message

            if isinstance(exc, MergeConflict):
                self._ask_conflict(fmt, path, exc, conflict_message)
                return
            session.show_error(exc)

        return self._run(f"Importing {path.name}", work, done, failed)

    def _ask_conflict(self, fmt: str, path: Path, exc: Any, describe: Callable[..., str]) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "Import: points differ",
                          f"{len(exc.conflicts)} confirmed point(s) in the file differ from the project's; nothing "
                          f"was imported yet.\n\n{describe(exc.conflicts)}", QMessageBox.StandardButton.Cancel, self.parent)
        keep = box.addButton("Keep the project's", QMessageBox.ButtonRole.AcceptRole)
        replace = box.addButton("Use the file's", QMessageBox.ButtonRole.DestructiveRole)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.conflict_box = box

        def chosen(button: Any) -> None:
            if button is keep:
                self.import_file(fmt, path, on_conflict="keep")
            elif button is replace:
                self.import_file(fmt, path, on_conflict="replace")

        box.buttonClicked.connect(chosen)
        box.open()

    # -- COCO and SPair (File > Export's first two) --------------------------------------------------
    def export_coco_dialog(self) -> None:
        project = self.session.project
        if project is None:
            return
        start = str(Path(project.path).with_suffix(".coco.json"))
        path, _ = QFileDialog.getSaveFileName(self.parent, "Export COCO keypoints", start, "COCO JSON (*.json)")
        if not path:
            return
        predicted = QMessageBox.question(
            self.parent, "Export COCO", "Include predictions that still await review?\n"
            "(No: only confirmed points: placed, accepted, corrected.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
        ) == QMessageBox.StandardButton.Yes
        self.export_coco(Path(path), predicted=predicted)

    def export_coco(self, path: Path, *, predicted: bool = False) -> background.BackgroundJob | None:
        project = self.session.project
        if project is None:
            return None
        from labeler.formats.coco import export_coco

        def done(report) -> None:  # noqa: ANN001
            self.session.say(
                f"wrote {report.path}: {report.images} images, {report.visible_or_occluded} points, "
                f"{report.absent} absent" + (f", {report.predicted} predicted" if predicted else "")
                + (f"; {report.no_object} no-object image(s) as negatives (no annotation)" if report.no_object else "")
                + (f"; {report.skipped} skipped image(s) left out" if report.skipped else "")
                + (f"; WARNING: {len(report.replaced)} image(s) now hold another picture than the one "
                   f"labelled (written as they are): {', '.join(report.replaced[:3])}" if report.replaced else ""),
                error=bool(report.replaced))

        return background.run_in_background(lambda: export_coco(project, path, predicted=predicted), done,
                                            lambda exc: self.session.write_failed(path, exc))

    def export_spair_dialog(self) -> None:
        project = self.session.project
        if project is None:
            return
        dialog = SPairExportDialog(Path(project.path).parent / f"{Path(project.path).stem}-spair", self.parent)
        if dialog.exec() != SPairExportDialog.DialogCode.Accepted:
            return
        out, config, predictions = dialog.values()
        self.export_spair(out, config=config, include_predictions=predictions)

    def export_spair(self, out: Path, *, overwrite: bool = True, config=None,  # noqa: ANN001
                     include_predictions: bool = False) -> background.BackgroundJob | None:
        project = self.session.project
        if project is None:
            return None
        from labeler.formats.pairs import export_pairs
        from labeler.formats.spair import SPairExportConfig

        def done(summary) -> None:  # noqa: ANN001
            pairs = sum(summary.pairs.values())
            self.session.say(f"wrote {summary.root}: {pairs} pairs from {sum(summary.images.values())} images")
            if summary.warnings:
                box = QMessageBox(QMessageBox.Icon.Information, "SPair export", "\n".join(summary.warnings[:10]),
                                  QMessageBox.StandardButton.Ok, self.parent)
                box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
                box.open()

        config = config or SPairExportConfig(overwrite=overwrite)
        return background.run_in_background(
            lambda: export_pairs(project, out, config, include_predictions=include_predictions), done,
            lambda exc: self.session.write_failed(out, exc))

    # -- shared ------------------------------------------------------------------------------
    def _busy(self) -> bool:
        if self.job is not None and not self.job.is_finished:
            self.session.say("an export or import is still running: a moment", error=True)
            return True
        return False

    def _run(self, text: str, work: Callable[..., Any], on_done: Callable[[Any], None],
             on_error: Callable[[BaseException], None]) -> background.BackgroundJob:
        self.progress.start(text)

        def done(result: Any) -> None:
            self.progress.finish()
            on_done(result)

        def failed(exc: BaseException) -> None:
            self.progress.finish()
            on_error(exc)

        self.job = background.run_in_background(work, done, failed, on_progress=self.progress.report)
        return self.job

    def _show(self, line: str, details: list[str], *, title: str) -> None:
        self.last_summary = (line, details)
        self.session.say(line)
        box = QMessageBox(QMessageBox.Icon.Information, title, line + ("\n\n" + "\n".join(details) if details else ""),
                          QMessageBox.StandardButton.Ok, self.parent)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.summary_box = box
        box.open()
