"""Image-level decisions, one key each: skip (K), no object (Shift+X), flag for later (M).

Pressing a key again clears the flag. Skip and no object move on to the next image (the
decision is made, there is nothing to label); flag for later stays. Skipped and no-object
images leave the review queue; the image list filters each flag. Exports: COCO lists a
no-object image as a negative (in images, no annotation) and leaves skipped ones out; SPair
pairs use neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
        if new is None:
            w._message(f"{image.path}: no longer {word}")
            return
        if new in OUT_OF_QUEUE:
            w._message(f"{image.path}: {word} (the same key again clears it)")
            w.step_image(1)
        else:
            w._message(f"{image.path}: flagged for later (filter the list: Flagged for later)")
