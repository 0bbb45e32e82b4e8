"""What the window's controllers share, so none of them needs the window.

One :class:`Session` per window holds the open project and what is on screen (image, its
points, the current keypoint), the undo stack, the jobs that make edits wait, and one place to
say things: :meth:`Session.say` emits :attr:`Session.message`, which the status bar and run log
listen to. Controllers ask for navigation through signals (:meth:`show`, :meth:`step`,
:meth:`refresh`) that the image browser answers. The window creates the session and the
controllers and connects them; a controller receives the session and the widgets it works on.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QUndoStack
from PyQt6.QtWidgets import QWidget

from labeler.errors import LabelerError
from labeler.gui.errors import show_error
from labeler.store import ImageRecord, PointRecord, Project, Schema


class Session(QObject):
    #: (text, is_error): a line for the status bar and the run log
    message = pyqtSignal(str, bool)
    #: a Schema: the keypoints changed (schema edit, an import that created them)
    schema_replaced = pyqtSignal(object)
    #: an image id a controller wants on screen
    image_wanted = pyqtSignal(int)
    #: +1 / -1: the next or previous image of the list
    step_wanted = pyqtSignal(int)
    #: re-read the image on screen and the image list (another process or a bulk job wrote)
    refresh_wanted = pyqtSignal()
    #: a set of image ids removed from the project
    images_removed = pyqtSignal(object)
    #: a keypoint name a controller makes current
    keypoint_wanted = pyqtSignal(str)
    #: an instance id of the image on screen a controller selects (labeler.gui.instances focuses it)
    object_wanted = pyqtSignal(int)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.dialog_parent = parent  # what boxes and dialogs are shown over
        self.project: Project | None = None
        self.schema = Schema()
        self.editor = None  # labeler.gui.editing.Editor while a project is open
        self.navigator = None  # labeler.gui.review.ReviewNavigator while a project is open
        self.current: ImageRecord | None = None
        self.current_points: dict[str, PointRecord] = {}
        self.current_keypoint: str | None = None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(1000)
        self.history_job = None  # a bulk undo/redo being written
        self.schema_job = None  # a keypoint edit being written

    # -- saying things ---------------------------------------------------------------------------
    def say(self, text: str, *, error: bool = False) -> None:
        self.message.emit(text, error)

    def busy_message(self) -> str:
        """Why edits must wait now (a bulk undo/redo or a schema change is being written)."""
        if self.history_job is not None:
            return "still undoing/redoing a bulk edit: a moment"
        if self.schema_job is not None:
            return "still updating the keypoints: a moment"
        return ""

    def refuse_if_busy(self) -> bool:
        """True (and says why) when edits must wait."""
        busy = self.busy_message()
        if busy:
            self.say(busy, error=True)
        return bool(busy)

    def show_error(self, exc: BaseException) -> None:
        show_error(exc, self.dialog_parent)

    def write_failed(self, path: Path, exc: BaseException) -> None:
        """A write the disk refused (no such folder, a file in the way, no space) is the
        person's to fix, not a bug: say so with the OS's reason."""
        if isinstance(exc, OSError) and not isinstance(exc, LabelerError):
            exc = LabelerError(f"cannot write {path}: {exc.strerror or exc}")
        self.show_error(exc)

    # -- asking for navigation -------------------------------------------------------------------
    def show(self, image_id: int) -> None:
        self.image_wanted.emit(image_id)

    def step(self, step: int) -> None:
        self.step_wanted.emit(step)

    def refresh(self) -> None:
        self.refresh_wanted.emit()

    def replace_schema(self, schema: Schema) -> None:
        self.schema_replaced.emit(schema)

    def select_keypoint(self, name: str) -> None:
        self.keypoint_wanted.emit(name)

    def select_object(self, instance_id: int) -> None:
        self.object_wanted.emit(instance_id)

    @property
    def current_id(self) -> int | None:
        return None if self.current is None else self.current.id
