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

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QUndoCommand

from labeler.errors import LabelerError
from labeler.store import FLAG_LATER, FLAG_NO_OBJECT, FLAG_SKIP, REVIEW_PREDICTED

if TYPE_CHECKING:
    from labeler.gui.image_list import ImageListPanel
    from labeler.gui.session import Session

#: flag -> (word in the list and messages, badge colour)
FLAG_LOOKS: dict[str, tuple[str, str]] = {
    FLAG_SKIP: ("skipped", "#8a93a2"),
    FLAG_NO_OBJECT: ("no object", "#c58af0"),
    FLAG_LATER: ("later", "#ffb347"),
}
#: Flags that take an image out of the review queue.
#: the flags that settle an image, so the view moves on (every flag takes it out of review: the store's rule)
MOVES_ON = (FLAG_SKIP, FLAG_NO_OBJECT)


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


class ImageFlags(QObject):
    """K / Shift+X / M on the image on screen; the image list shows the flags."""

    #: an image id whose flag changed (its predictions show or hide; the review count changes)
    changed = pyqtSignal(int)

    def __init__(self, session: Session, image_list: ImageListPanel) -> None:
        super().__init__(session)
        self.session, self.image_list = session, image_list

    def toggle(self, flag: str) -> None:
        s = self.session
        project, image = s.project, s.current
        if project is None or image is None or s.refuse_if_busy():
            return
        was = self.image_list.flag_of(image.id)
        new = None if was == flag else flag
        awaited_review = self.image_list.status_of(image.id) == REVIEW_PREDICTED
        listed = self._listed_ids()  # before the flag: a flag filter may take the image out of the list
        try:
            project.set_image_flag(image.id, new)
        except LabelerError as exc:
            s.say(str(exc), error=True)
            return
        self.image_list.set_flag(image.id, new)
        word = FLAG_LOOKS[flag][0]
        text = f"{'clear' if new is None else 'flag'} {image.path.rsplit('/', 1)[-1]} {word}"
        s.undo_stack.push(FlagEdit(project, image.id, was, new, self._from_history, text))
        self.changed.emit(image.id)
        if new is None:
            s.say(f"{image.path}: no longer {word}")
            return
        if new in MOVES_ON:
            self._move_on(image.id, awaited_review, listed, f"{image.path}: {word} (the same key again clears it)")
        else:
            s.say(f"{image.path}: flagged for later (filter the list: Flagged for later)")

    def _listed_ids(self) -> list[int]:
        model = self.image_list.model
        return [model.row_at(r)[0] for r in range(model.rowCount())]  # type: ignore[index]

    def _move_on(self, image_id: int, awaited_review: bool, listed: list[int], said: str) -> None:
        """The decision is made: on to the next image in the order the person works in (the
        review queue when this one awaited review, else the list), never to one that is
        already skipped or has no object; the list wraps around at its end."""
        s = self.session
        if awaited_review and s.navigator is not None:
            target = s.navigator.next_image(image_id)  # the queue passes over flagged images
            if target is not None and target != image_id:
                s.show(target)
                s.say(said)
                return
        at = listed.index(image_id) if image_id in listed else -1
        for candidate in listed[at + 1:] + listed[:max(at, 0)]:
            if self.image_list.flag_of(candidate) not in MOVES_ON:
                s.show(candidate)
                s.say(said)
                return
        s.say(said + "; every other image of the list is skipped or has no object")

    def _from_history(self, image_id: int, flag: str | None) -> None:
        """Undo/redo of a flag: the list shows it and the view goes back to that image."""
        self.image_list.set_flag(image_id, flag)
        self.changed.emit(image_id)
        if self.session.current_id != image_id:
            self.session.show(image_id)
