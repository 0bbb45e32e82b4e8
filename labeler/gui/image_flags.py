"""Image-level decisions, one key each: skip (K), no object (Shift+X), flag for later (M).

Pressing a key again clears the flag; Ctrl+Z undoes a flag like any edit (and goes back to
its image). Skip and no object move on to the next image (the decision is made, there is
nothing to label); flag for later stays. Skipped and no-object
images leave the review queue; the image list filters each flag. Exports: COCO lists a
no-object image as a negative (in images, no annotation) and leaves skipped ones out; SPair
pairs use neither.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PyQt6.QtGui import QUndoCommand

from labeler.errors import LabelerError
from labeler.store import FLAG_LATER, FLAG_NO_OBJECT, FLAG_SKIP

if TYPE_CHECKING:
    from labeler.gui.main_window import MainWindow

#: flag -> (word in the list and messages, badge colour)
FLAG_LOOKS: dict[str, tuple[str, str]] = {
    FLAG_SKIP: ("skipped", "#8a93a2"),
    FLAG_NO_OBJECT: ("no object", "#c58af0"),
    FLAG_LATER: ("later", "#ffb347"),
}
#: Flags that take an image out of the review queue.
OUT_OF_QUEUE = (FLAG_SKIP, FLAG_NO_OBJECT)


class FlagEdit(QUndoCommand):
    """One flag change, undoable; pushed after it was written (the first redo does nothing)."""

    def __init__(self, project, image_id: int, before: str | None, after: str | None,  # noqa: ANN001
                 shown: Callable[[int, str | None], None], text: str) -> None:
        super().__init__(text)
        self.project, self.image_id, self.before, self.after = project, image_id, before, after
        self.shown = shown
        self._done_once = False

    def redo(self) -> None:
        if not self._done_once:
            self._done_once = True
            return
        self.project.set_image_flag(self.image_id, self.after)
        self.shown(self.image_id, self.after)

    def undo(self) -> None:
        self.project.set_image_flag(self.image_id, self.before)
        self.shown(self.image_id, self.before)


class ImageFlags:
    def __init__(self, window: MainWindow) -> None:
        self.w = window

    def toggle(self, flag: str) -> None:
        w = self.w
        project, image = w.project, w.current
        if project is None or image is None:
            return
        if w._busy_message():
            w._message(w._busy_message(), error=True)
            return
        was = w.image_list.flag_of(image.id)
        new = None if was == flag else flag
        try:
            project.set_image_flag(image.id, new)
        except LabelerError as exc:
            w._message(str(exc), error=True)
            return
        w.image_list.set_flag(image.id, new)
        word = FLAG_LOOKS[flag][0]
        text = f"{'clear' if new is None else 'flag'} {image.path.rsplit('/', 1)[-1]} {word}"
        w.undo_stack.push(FlagEdit(project, image.id, was, new, self._from_history, text))
        if new is None:
            w._message(f"{image.path}: no longer {word}")
            return
        if new in OUT_OF_QUEUE:
            w._message(f"{image.path}: {word} (the same key again clears it)")
            w.step_image(1)
        else:
            w._message(f"{image.path}: flagged for later (filter the list: Flagged for later)")

    def _from_history(self, image_id: int, flag: str | None) -> None:
        """Undo/redo of a flag: the list shows it and the view goes back to that image."""
        w = self.w
        w.image_list.set_flag(image_id, flag)
        if w.current is None or w.current.id != image_id:
            w.show_image(image_id)
