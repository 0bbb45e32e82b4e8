"""Defining the keypoint schema: names (ordered), skeleton edges, left/right flip pairs.

Used by File > New project and by Edit > Edit keypoints (which turns the edited list into the
store's add / rename / remove / reorder calls). Validation is the store's own
(:func:`labeler.store.validate_schema`), so the dialog accepts exactly what the store accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PyQt6.QtCore import QEvent, QObject, Qt
from PyQt6.QtGui import QKeyEvent
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from labeler.errors import LabelerError
from labeler.store import PROJECT_SUFFIX, Project, Schema, validate_schema
from labeler.store.schema_ops import pair_problem

ORIGINAL = Qt.ItemDataRole.UserRole + 1  # a keypoint row's name in the project (None: new)
PAIR = Qt.ItemDataRole.UserRole + 2  # an edge / flip-pair row's (a, b)


@dataclass(frozen=True)
class SchemaEdit:
    """The edited schema plus how it maps onto the project's keypoints."""

    schema: Schema
    renames: dict[str, str] = field(default_factory=dict)  # old -> new
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()


class PairList(QWidget):
    """A list of keypoint pairs with two pickers and Add / Remove."""

    def __init__(self, title: str, joiner: str, parent: QWidget | None = None, *, exclusive: bool = False) -> None:
        """``exclusive``: a keypoint may be in one pair only (left/right pairs)."""
        super().__init__(parent)
        self.joiner = joiner
        self.exclusive = exclusive
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.a = QComboBox()
        self.b = QComboBox()
        self.add = QPushButton("Add")
        self.remove = QPushButton("Remove")
        self.add.clicked.connect(self._add)
        self.remove.clicked.connect(self._remove)
        self.reason = QLabel("")  # why the picked pair cannot be added, as it is picked
        self.reason.setObjectName("error")
        self.reason.setWordWrap(True)
        self.a.currentIndexChanged.connect(self._check)
        self.b.currentIndexChanged.connect(self._check)
        row = QHBoxLayout()
        row.addWidget(self.a, 1)
        row.addWidget(QLabel(joiner))
        row.addWidget(self.b, 1)
        row.addWidget(self.add)
        box = QGroupBox(title)
        inner = QVBoxLayout(box)
        inner.addWidget(self.list)
        inner.addLayout(row)
        inner.addWidget(self.reason)
        inner.addWidget(self.remove, alignment=Qt.AlignmentFlag.AlignRight)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)
        self.on_change = lambda: None

    def set_names(self, names: list[str]) -> None:
        for combo in (self.a, self.b):
            keep = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if keep in names:
                combo.setCurrentText(keep)
            combo.blockSignals(False)
        if self.b.count() > 1 and self.b.currentIndex() == self.a.currentIndex():
            self.b.setCurrentIndex(1 if self.a.currentIndex() == 0 else 0)
        self._check()

    def problem(self, a: str | None = None, b: str | None = None) -> str:
        """Why the pair (default: the picked one) cannot be added; "" when it can."""
        a = self.a.currentText() if a is None else a
        b = self.b.currentText() if b is None else b
        if not a or not b:
            return ""
        return pair_problem("flip" if self.exclusive else "edge", self.pairs(), a, b, self.joiner)

    def _check(self) -> None:
        why = self.problem()
        self.reason.setText(why)
        self.add.setEnabled(bool(self.a.currentText()) and not why)

    def pairs(self) -> list[tuple[str, str]]:
        return [tuple(self.list.item(i).data(PAIR)) for i in range(self.list.count())]  # type: ignore[misc]

    def set_pairs(self, pairs: list[tuple[str, str]]) -> None:
        self.list.clear()
        for a, b in pairs:
            self.add_pair(a, b)

    def add_pair(self, a: str, b: str) -> None:
        item = QListWidgetItem(f"{a}  {self.joiner}  {b}")
        item.setData(PAIR, (a, b))
        self.list.addItem(item)

    def rename(self, old: str, new: str) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            a, b = item.data(PAIR)
            if old in (a, b):
                a, b = (new if a == old else a), (new if b == old else b)
                item.setData(PAIR, (a, b))
                item.setText(f"{a}  {self.joiner}  {b}")

    def drop_name(self, name: str) -> None:
        for i in reversed(range(self.list.count())):
            if name in self.list.item(i).data(PAIR):
                self.list.takeItem(i)

    def _add(self) -> None:
        a, b = self.a.currentText(), self.b.currentText()
        if a and b and not self.problem(a, b):
            self.add_pair(a, b)
            self.on_change()
        self._check()

    def _remove(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self.on_change()
        self._check()


class SchemaEditor(QWidget):
    """Keypoints (add, rename by double-click, remove, reorder), edges and flip pairs."""

    def __init__(self, schema: Schema | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.names = QListWidget()
        self.names.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.names.itemChanged.connect(self._item_renamed)
        self.entry = QLineEdit()
        self.entry.setPlaceholderText("new keypoint names, e.g.  nose, left_eye, right_eye  (Enter adds)")
        # Enter adds the typed names; it must not also press the dialog's Create / OK button
        self.entry.installEventFilter(self)
        add = QPushButton("Add")
        add.clicked.connect(self._add_from_entry)
        self.remove = QPushButton("Remove")
        self.remove.clicked.connect(self._remove_selected)
        up, down = QPushButton("Up"), QPushButton("Down")
        up.clicked.connect(lambda: self._move(-1))
        down.clicked.connect(lambda: self._move(1))
        entry_row = QHBoxLayout()
        entry_row.addWidget(self.entry, 1)
        entry_row.addWidget(add)
        buttons = QHBoxLayout()
        buttons.addWidget(up)
        buttons.addWidget(down)
        buttons.addStretch(1)
        buttons.addWidget(self.remove)
        kp_box = QGroupBox("Keypoints (in order; double-click to rename)")
        kp_layout = QVBoxLayout(kp_box)
        kp_layout.addLayout(entry_row)
        kp_layout.addWidget(self.names)
        kp_layout.addLayout(buttons)
        self.edges = PairList("Skeleton edges", "—")
        self.flips = PairList("Left/right pairs (swapped by a horizontal flip)", "↔", exclusive=True)
        self.edges.on_change = self.flips.on_change = self._changed
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(kp_box, 0, 0, 2, 1)
        grid.addWidget(self.edges, 0, 1)
        grid.addWidget(self.flips, 1, 1)
        grid.addWidget(self.error, 2, 0, 1, 2)
        self._removed: list[str] = []
        self._last_names: dict[int, str] = {}
        if schema is not None:
            self.set_schema(schema)
        self._changed()

    # -- contents ------------------------------------------------------------------------------
    def set_schema(self, schema: Schema) -> None:
        self.names.blockSignals(True)
        self.names.clear()
        for n in schema.keypoints:
            self._append(n, original=n)
        self.names.blockSignals(False)
        self.edges.set_pairs(list(schema.skeleton))
        self.flips.set_pairs(list(schema.flip_pairs))
        self._removed = []
        self._changed()

    def mark_all_new(self) -> None:
        """The listed keypoints are not in any project yet (a new project's draft)."""
        for i in range(self.names.count()):
            self.names.item(i).setData(ORIGINAL, None)

    def keypoint_names(self) -> list[str]:
        return [self.names.item(i).text().strip() for i in range(self.names.count())]

    def add_keypoints(self, names: list[str]) -> None:
        self.names.blockSignals(True)
        for n in names:
            self._append(n, original=None)
        self.names.blockSignals(False)
        self._changed()

    def edit(self) -> SchemaEdit:
        """The edited schema, validated by the store's rules (raises LabelerError)."""
        names = self.keypoint_names()
        schema = validate_schema(names, self.edges.pairs(), self.flips.pairs())
        renames, added = {}, []
        for i in range(self.names.count()):
            item = self.names.item(i)
            original = item.data(ORIGINAL)
            if original is None:
                added.append(item.text().strip())
            elif original != item.text().strip():
                renames[original] = item.text().strip()
        return SchemaEdit(schema, renames, tuple(self._removed), tuple(added))

    # -- internals -----------------------------------------------------------------------------
    def _append(self, name: str, original: str | None) -> None:
        item = QListWidgetItem(name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        item.setData(ORIGINAL, original)
        self.names.addItem(item)
        self._last_names[id(item)] = name

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:
        if (watched is self.entry and isinstance(event, QKeyEvent) and event.type() == QEvent.Type.KeyPress
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):
            self._add_from_entry()
            return True
        return super().eventFilter(watched, event)

    def commit_entry(self) -> None:
        """Names typed but not added yet count (pressing Create / OK means "use what I typed")."""
        self._add_from_entry()

    def _add_from_entry(self) -> None:
        text = self.entry.text()
        present = set(self.keypoint_names())
        new, repeated = [], []
        for t in (t.strip() for t in text.replace("\n", ",").split(",")):
            if not t:
                continue
            if t in present:
                repeated.append(t)
            else:
                present.add(t)
                new.append(t)
        if new:
            self.add_keypoints(new)
        if new or repeated:
            self.entry.clear()
        if repeated:
            self.error.setText(f"already in the list, not added again: {', '.join(repeated)}")

    def _remove_selected(self) -> None:
        for item in self.names.selectedItems():
            original = item.data(ORIGINAL)
            if original is not None:
                self._removed.append(original)
            name = item.text().strip()
            self.edges.drop_name(name)
            self.flips.drop_name(name)
            self.names.takeItem(self.names.row(item))
        self._changed()

    def _move(self, step: int) -> None:
        row = self.names.currentRow()
        target = row + step
        if row < 0 or not 0 <= target < self.names.count():
            return
        item = self.names.takeItem(row)
        self.names.insertItem(target, item)
        self.names.setCurrentRow(target)
        self._changed()

    def _item_renamed(self, item: QListWidgetItem) -> None:
        old = self._last_names.get(id(item))
        new = item.text().strip()
        if old and new and old != new:
            self.edges.rename(old, new)
            self.flips.rename(old, new)
        self._last_names[id(item)] = new
        self._changed()

    def _changed(self) -> None:
        names = self.keypoint_names()
        self.edges.set_names(names)
        self.flips.set_names(names)
        try:
            validate_schema(names, self.edges.pairs(), self.flips.pairs())
        except LabelerError as exc:
            self.error.setText(str(exc))
        else:
            self.error.setText("" if names else "Add at least one keypoint (you can also add them later).")


def default_project_path(folder: Path) -> Path:
    """``<parent>/<folder name>.labeler``: next to the images, not inside them."""
    folder = Path(folder)
    return folder.parent / f"{folder.name}{PROJECT_SUFFIX}"


class NewProjectDialog(QDialog):
    """Image folder, project file, schema. Creating (scanning the folder) happens afterwards,
    off the UI thread, in the main window."""

    def __init__(self, parent: QWidget | None = None, folder: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.resize(820, 560)
        self.folder = QLineEdit(folder)
        self.folder.setPlaceholderText("folder of images (searched recursively)")
        self.project = QLineEdit()
        self.project.setPlaceholderText(f"project file, e.g. birds{PROJECT_SUFFIX}")
        self.name = QLineEdit()
        self.name.setPlaceholderText("optional; the COCO category name (default: the file name)")
        browse_folder = QPushButton("Browse…")
        browse_folder.clicked.connect(self._pick_folder)
        browse_project = QPushButton("Browse…")
        browse_project.clicked.connect(self._pick_project)
        self.folder.textChanged.connect(self._folder_changed)
        form = QFormLayout()
        row1 = QHBoxLayout()
        row1.addWidget(self.folder, 1)
        row1.addWidget(browse_folder)
        row2 = QHBoxLayout()
        row2.addWidget(self.project, 1)
        row2.addWidget(browse_project)
        form.addRow("Images", row1)
        form.addRow("Project file", row2)
        form.addRow("Name", self.name)
        self.editor = SchemaEditor()
        self.message = QLabel("")
        self.message.setObjectName("error")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self._project_edited = False
        self.project.textEdited.connect(lambda _: setattr(self, "_project_edited", True))
        self.result_schema: Schema | None = None
        if folder:
            self._folder_changed(folder)

    def restore(self, folder: Path, project: Path, schema: Schema, name: str | None, message: str = "") -> None:
        """Fill the dialog again (creating failed: nothing typed is lost, the reason is shown)."""
        self.folder.setText(str(folder))
        self.project.setText(str(project))
        self._project_edited = True
        self.name.setText(name or "")
        self.editor.set_schema(schema)
        self.editor.mark_all_new()
        self.message.setText(message)

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _pick_project(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Project file", self.project.text(), f"Labeler projects (*{PROJECT_SUFFIX})")
        if path:
            if not path.endswith(PROJECT_SUFFIX):
                path += PROJECT_SUFFIX
            self.project.setText(path)
            self._project_edited = True

    def _folder_changed(self, text: str) -> None:
        if text and not self._project_edited:
            self.project.setText(str(default_project_path(Path(text))))

    def values(self) -> tuple[Path, Path, Schema, str | None]:
        """(images folder, project file, schema, name); raises LabelerError with the reason."""
        folder = Path(self.folder.text().strip()).expanduser()
        if not self.folder.text().strip() or not folder.is_dir():
            raise LabelerError(f"pick the folder of images ({folder} is not a folder)" if self.folder.text().strip()
                               else "pick the folder of images")
        project_text = self.project.text().strip()
        if not project_text:
            raise LabelerError("choose where to save the project file")
        project = Path(project_text).expanduser()
        if project.suffix != PROJECT_SUFFIX:
            project = project.with_name(project.name + PROJECT_SUFFIX)
        if project.exists():
            raise LabelerError(f"{project} already exists; open it with File > Open, or choose another name")
        schema = self.editor.edit().schema
        return folder, project, schema, (self.name.text().strip() or None)

    def _accept(self) -> None:
        self.editor.commit_entry()
        try:
            self.values()
        except LabelerError as exc:
            self.message.setText(str(exc))
            return
        self.accept()


class EditSchemaDialog(QDialog):
    def __init__(self, schema: Schema, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit keypoints")
        self.resize(800, 520)
        self.editor = SchemaEditor(schema)
        note = QLabel(
            "Renaming keeps every point. Removing a keypoint deletes its points (you will be asked). "
            "Schema changes cannot be undone with Ctrl+Z."
        )
        note.setObjectName("muted")
        note.setWordWrap(True)
        self.message = QLabel("")
        self.message.setObjectName("error")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.editor, 1)
        layout.addWidget(note)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def _accept(self) -> None:
        self.editor.commit_entry()
        try:
            self.editor.edit()
        except LabelerError as exc:
            self.message.setText(str(exc))
            return
        self.accept()


def points_per_keypoint(project: Project, names: list[str]) -> dict[str, int]:
    """How many point rows each keypoint has (to warn before removing keypoints)."""
    counts = project.point_counts()
    return {name: counts.get(name, 0) for name in names}


def apply_schema_edit(project: Project, edit: SchemaEdit) -> Schema:
    """The edited schema into the store, in one transaction (:meth:`Project.edit_schema`, which
    ``labeler schema`` uses too); the person was asked before keypoints with points are removed."""
    return project.edit_schema(edit.schema.keypoints, edit.schema.skeleton, edit.schema.flip_pairs,
                               renames=edit.renames, delete_points=True)
