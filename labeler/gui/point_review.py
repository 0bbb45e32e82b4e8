"""Reviewing predictions point by point: walk the low-confidence points of the collection
(zooming to each), accept or reject one point without touching the rest, and what Space/Enter
do on an image that still has low points.

The walk goes through the current image's low points (least confident first), then through the
image's other objects with low points (labeler.gui.object_review), then on to the next image of the review queue that has any; W / Shift+W step, C accepts, R rejects (back to
unlabelled), Shift+R rejects as absent. Acting on the point the walk is at moves on to the next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject

from labeler.errors import LabelerError
from labeler.gui.object_review import ObjectWalk
from labeler.gui.review_panel import ABOVE, ALL, ASK, LowConfidenceBox, low_points
from labeler.store import PREDICTED

if TYPE_CHECKING:
    from collections.abc import Callable

    from labeler.gui.canvas import Canvas
    from labeler.gui.review_panel import ReviewPanel
    from labeler.gui.session import Session

    Attempt = Callable[[Callable[[], object]], object | None]

def file_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


#: How many queued images a step looks through for one with low points.
LOOKAHEAD = 200


class PointReview(QObject):
    """W / Shift+W / C / R / Shift+R, and Space on an image with low points. ``attempt`` runs an
    edit the way every edit runs (refused while busy or on an unreadable image; errors said)."""

    def __init__(self, session: Session, panel: ReviewPanel, canvas: Canvas, attempt: Attempt, *,
                 objects: ObjectWalk | None = None) -> None:
        super().__init__(session)
        self.objects = objects or ObjectWalk(session)  # the image's other objects before the next image
        self.w = session
        self.panel, self.canvas, self.attempt = panel, canvas, attempt
        self.at: tuple[int, str] | None = None  # (image id, keypoint) the walk stands on
        self._at_object: int | None = None  # and the object it is of (the focused one then)
        self._visited: list[tuple[int, int | None]] = []  # (image, object) the walk went through, for Shift+W
        self._told: int | None = None  # the image whose pending predictions the walk pointed out

    @property
    def threshold(self) -> float:
        return self.panel.threshold

    def _low_here(self) -> list[str]:
        return low_points(self.w.current_points, self.threshold)

    # -- walking -------------------------------------------------------------------------------
    def next_low(self) -> None:
        w = self.w
        if w.current is None:
            return
        names = self._low_here()
        focus = self._walked_point()
        if focus in names and names.index(focus) + 1 < len(names):
            self._go(names[names.index(focus) + 1])
            return
        if focus not in names and names:
            self._go(names[0])
            return
        threshold = self.threshold
        here = (w.current.id, self._focused())
        if self.objects.next_object(lambda points: bool(low_points(points, threshold))):
            self._visited.append(here)
            names = self._low_here()  # the image's next object with low points
            if names:
                self._go(names[0])
            return
        if self._finish_first():
            return
        target = self._next_image_with_low()
        if target is None:
            w.say(f"no more predictions below {self.threshold:.2f} to review", error=False)
            return
        left = w.current.path
        undecided = sum(1 for p in w.current_points.values() if p.status == PREDICTED)
        self._visited.append(here)
        w.show(target)
        names = self._low_here()
        if names:
            self._go(names[0], moved_from=left, undecided=undecided)

    def _finish_first(self) -> bool:
        """The walk reached the end of this image's low points while predictions of it still
        await review: say so once and stay (W again moves on, leaving them for later)."""
        w = self.w
        image = w.current
        pending = [p for p in w.current_points.values() if p.status == PREDICTED]
        walked_here = self.at is not None and self.at[0] == image.id
        if not pending or not walked_here or self._told == image.id:
            self._told = None
            return False
        self._told = image.id
        low = len(self._low_here())
        parts = []
        if low:
            parts.append(f"{low} low undecided (C/R)")
        if len(pending) > low:
            parts.append(f"{len(pending) - low} ≥ {self.threshold:.2f} await review (Enter)")
        w.say(f"{file_name(image.path)}: last low point of this image; " + ", ".join(parts) + ". W: next image")
        return True

    def previous_low(self) -> None:
        w = self.w
        if w.current is None:
            return
        names = self._low_here()
        focus = self._walked_point()
        if focus in names and names.index(focus) > 0:
            self._go(names[names.index(focus) - 1])
            return
        while self._visited:
            image_id, instance = self._visited.pop()
            if image_id == w.current.id and (instance is None or instance == self._focused()):
                continue
            if image_id != w.current.id:
                w.show(image_id)
            if instance is not None and w.current is not None and w.current.id == image_id:
                w.select_object(instance)  # the object the walk was at there
            names = self._low_here()
            if names:
                self._go(names[-1])
                return
        w.say("no earlier low-confidence point in this walk")

    def _next_image_with_low(self) -> int | None:
        w = self.w
        nav, project = w.navigator, w.project
        if nav is None or project is None:
            return None
        current = w.current.id if w.current is not None else None
        seen = set()
        for _ in range(LOOKAHEAD):
            target = nav.next_image(current)
            if target is None or target in seen:
                return None
            seen.add(target)
            if target != (w.current.id if w.current else None) and self._has_low(project, target):
                return target
            current = target
        return None

    def _has_low(self, project, image_id: int) -> bool:  # noqa: ANN001 - a Project
        """Any object of the image has a low point (not only its first object)."""
        objects = project.instances_to_review(image_id)
        if len(objects) < 2:
            return bool(low_points(project.points(image_id), self.threshold))
        return any(low_points(project.points(image_id, i), self.threshold) for i in objects)

    def _focused(self) -> int | None:
        w = self.w
        return None if w.project is None or w.current is None else w.project.focused_instance(w.current.id)

    def _walked_point(self) -> str | None:
        """The keypoint the walk stands on when it is on the image and object on screen."""
        if self.at is None or self.w.current is None or self.at[0] != self.w.current.id:
            return None
        return self.at[1] if self._at_object == self._focused() else None

    def _go(self, name: str, *, moved_from: str | None = None, undecided: int = 0) -> None:
        w = self.w
        rec = w.current_points.get(name)
        if w.current is None or rec is None:
            return
        self.at = (w.current.id, name)
        self._at_object = self._focused()
        w.select_keypoint(name)
        self.canvas.focus_on(name)
        names = self._low_here()
        conf = "?" if rec.confidence is None else f"{rec.confidence:.2f}"
        moved = ""
        if moved_from:  # "done" only when nothing of it awaits review: the walk may leave some behind
            moved = (f"{file_name(moved_from)} left with {undecided} prediction(s) undecided; now " if undecided
                     else f"{file_name(moved_from)} done with its low points; now ")
        w.say(f"{moved}{file_name(w.current.path)}: {name}: prediction {conf} ({names.index(name) + 1} of "
              f"{len(names)} low here) · C accepts · R rejects · Shift+R absent · W next")

    # -- one point -----------------------------------------------------------------------------
    def accept_point(self, name: str | None) -> None:
        self._decide(name, "accept")

    def reject_point(self, name: str | None, *, absent: bool = False) -> None:
        self._decide(name, "absent" if absent else "reject")

    def _decide(self, name: str | None, what: str) -> None:
        w = self.w
        if w.editor is None or w.current is None or name is None:
            return
        rec = w.current_points.get(name)
        if rec is None or rec.status != PREDICTED:
            w.say(f"{name} is not a prediction awaiting review", error=True)
            return
        image_id = w.current.id
        editor = w.editor
        fn = {
            "accept": lambda: editor.accept_point(image_id, name),
            "reject": lambda: editor.reject_point(image_id, name, absent=False),
            "absent": lambda: editor.reject_point(image_id, name, absent=True),
        }[what]
        if self.attempt(fn) is None:
            return
        if self.at == (image_id, name) and self._at_object == self._focused():  # walking: on to the next low point
            self.next_low()

    # -- Space / Enter -------------------------------------------------------------------------
    def accept_image(self) -> int | None:
        """Accept the current image's predictions as the policy says; None: the person cancelled."""
        w = self.w
        if w.editor is None or w.current is None:
            return 0
        image_id = w.current.id
        editor = w.editor
        if w.refuse_if_busy():
            return None
        try:  # a flagged image's predictions are hidden and out of review: say so, not "none"
            w.project.check_reviewable(image_id)
        except LabelerError as exc:
            w.say(str(exc), error=True)
            return None
        predicted = [p for p in w.current_points.values() if p.status == PREDICTED]
        if not predicted:
            w.say("no predictions on this image to accept")
            return 0
        low = self._low_here()
        policy = self.panel.policy
        if low and policy == ASK:
            confidences = [w.current_points[n].confidence for n in low]
            known = [c for c in confidences if c is not None]
            box = LowConfidenceBox(len(low), len(predicted), self.threshold, min(known) if known else None,
                                   w.dialog_parent)
            box.exec()
            policy = box.choice() or ""
            if not policy:
                w.say("nothing accepted")
                return None
        threshold = self.threshold
        if low and policy == ABOVE:
            n = self.attempt(lambda: editor.accept_image(image_id, min_confidence=threshold))
            if n is not None:
                w.say(f"accepted {n} prediction(s) ≥ {threshold:.2f}; {len(low)} below left to review (W)")
            return int(n or 0)
        assert policy in (ALL, ASK, ABOVE)
        n = self.attempt(lambda: editor.accept_image(image_id))
        if n:
            w.say(f"accepted {n} prediction(s)")
        elif n == 0:
            w.say("no predictions on this image to accept")
        return None if n is None else int(n)
