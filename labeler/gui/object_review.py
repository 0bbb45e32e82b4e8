"""Review goes object by object: on an image with several objects, Space (accept and next) and
the W low-point walk first go to the image's next object awaiting review, least confident first
(the store's ``instances_to_review``), and only then to the next image.

One :class:`ObjectWalk` remembers which objects of the image on screen this pass has been at,
so an object whose low points were left undecided is not offered again and the pass always
ends (on to the next image). Selecting goes through ``Session.select_object``: the instance
layer (labeler.gui.instances) focuses it, so every edit path then works on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from labeler.errors import LabelerError

if TYPE_CHECKING:
    from labeler.gui.session import Session
    from labeler.store import PointRecord


class ObjectWalk:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._image: int | None = None
        self._seen: set[int] = set()

    def reset(self, *_: object) -> None:
        """Another image was shown: its objects are all new to this pass."""
        self._image, self._seen = None, set()

    def next_object(self, wanted: Callable[[dict[str, PointRecord]], bool] | None = None) -> bool:
        """Select the image's next object awaiting review (and, when given, whose points are
        ``wanted``) not yet visited in this pass; False when none is left (go to the next image)."""
        s = self.session
        if s.project is None or s.current is None:
            return False
        image = s.current.id
        try:
            ids = [r.id for r in s.project.instances(image)]
            if len(ids) < 2:
                return False
            if self._image != image:
                self._image, self._seen = image, set()
            here = s.project.focused_instance(image)
            self._seen.add(here if here in ids else ids[0])
            for inst in s.project.instances_to_review(image):
                if inst in self._seen or inst not in ids:
                    continue
                if wanted is not None and not wanted(s.project.points(image, inst)):
                    continue
                s.select_object(inst)
                s.say(f"object {ids.index(inst) + 1} of {len(ids)} on this image awaits review")
                return True
        except LabelerError as exc:
            s.say(str(exc), error=True)
        return False
