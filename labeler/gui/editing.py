"""What the annotator's gestures mean, as undoable store calls.

The canvas and the keys say *what* the person did (clicked here, dragged that, pressed O);
this module picks the store call that records it and wraps it in a :class:`StoreEdit`. The
store decides provenance (manual / accepted / corrected); nothing here computes labels.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QUndoStack

from labeler.errors import UserInputError
from labeler.gui.commands import RowKey, StoreEdit
from labeler.store import ABSENT, ACCEPTED, CORRECTED, OCCLUDED, PREDICTED, VISIBLE, Project


def _where(x: float | None, y: float | None) -> str:
    return f"({x:.0f}, {y:.0f})"


class Editor(QObject):
    """Edits of one open project. ``changed(image_ids, from_history)`` after every edit, undo
    and redo (``from_history``: it came from undo/redo, so the view may follow it)."""

    changed = pyqtSignal(object, bool)

    def __init__(
        self,
        project: Project,
        stack: QUndoStack,
        expected: Callable[[int, str], dict[str, int | None] | None] | None = None,
    ) -> None:
        super().__init__()
        self.project = project
        self.stack = stack
        #: The version of a point as the window shows it (database projects): a place or move
        #: over someone else's newer edit is then refused (EditConflict) and the image reloaded.
        self.expected = expected or (lambda image_id, name: None)

    def _notify_history(self, image_ids: set[int]) -> None:
        self.changed.emit(image_ids, True)

    def _run(self, keys: list[RowKey], text: str, apply) -> StoreEdit:  # noqa: ANN001
        cmd = StoreEdit(self.project, keys, text, apply, self._notify_history)
        cmd.execute()  # a LabelerError propagates: nothing was changed, nothing is pushed
        self.push(cmd)
        return cmd

    def push(self, cmd: StoreEdit) -> None:
        """Record an executed edit (UI thread)."""
        if cmd.changed_anything:
            self.stack.push(cmd)
        self.changed.emit(cmd.image_ids, False)

    # -- one point -----------------------------------------------------------------------------
    def place(self, image_id: int, name: str, x: float, y: float, *, occluded: bool = False) -> StoreEdit:
        vis = OCCLUDED if occluded else VISIBLE
        old = self.project.points(image_id).get(name)
        text = f"place {name}"
        if old is not None and old.confirmed and old.x is not None:
            text = f"re-place {name} {_where(old.x, old.y)} → {_where(x, y)}"  # the undo text says what moved
        expected = self.expected(image_id, name)
        if expected is not None:
            return self._run([(image_id, name)], text,
                             lambda: self.project.set_points(image_id, {name: (x, y, vis)}, expected_versions=expected))
        return self._run([(image_id, name)], text,
                         lambda: self.project.set_point(image_id, name, x, y, visibility=vis))

    def move(self, image_id: int, name: str, x: float, y: float) -> StoreEdit:
        """A drag: a prediction becomes a correction; visibility is kept."""
        old = self.project.points(image_id).get(name)
        text = f"move {name}" + (f" {_where(old.x, old.y)} → {_where(x, y)}" if old is not None and old.x is not None else "")
        expected = self.expected(image_id, name)
        if expected is not None:
            vis = old.visibility if old is not None and old.visibility != ABSENT else VISIBLE
            return self._run([(image_id, name)], text, lambda: self.project.set_points(
                image_id, {name: (x, y, vis)}, status=CORRECTED, expected_versions=expected))
        return self._run([(image_id, name)], text, lambda: self.project.correct_point(image_id, name, x, y))

    def toggle_occluded(self, image_id: int, name: str) -> StoreEdit:
        rec = self.project.points(image_id).get(name)
        if rec is None or rec.visibility == ABSENT or rec.x is None or rec.y is None:
            raise UserInputError(f"place {name} first (Shift+click places it occluded)")
        if rec.visibility == OCCLUDED and rec.status != PREDICTED:
            x, y = rec.x, rec.y
            return self._run([(image_id, name)], f"{name} visible",
                             lambda: self.project.set_point(image_id, name, x, y, visibility=VISIBLE))
        return self._run([(image_id, name)], f"{name} occluded", lambda: self.project.set_occluded(image_id, name))

    def toggle_absent(self, image_id: int, name: str) -> StoreEdit:
        rec = self.project.points(image_id).get(name)
        if rec is not None and rec.visibility == ABSENT:
            return self._run([(image_id, name)], f"{name} unlabelled", lambda: self.project.delete_point(image_id, name))
        return self._run([(image_id, name)], f"{name} absent", lambda: self.project.set_absent(image_id, name))

    def delete(self, image_id: int, name: str) -> StoreEdit:
        return self._run([(image_id, name)], f"delete {name}", lambda: self.project.delete_point(image_id, name))

    # -- left/right ----------------------------------------------------------------------------
    def swap(self, image_id: int, name: str) -> StoreEdit:
        other = self.project.schema().flip_of(name)
        if other is None:
            raise UserInputError(f"{name} has no left/right counterpart (define flip pairs in Edit > Edit keypoints)")
        return self._run([(image_id, name), (image_id, other)], f"swap {name}/{other}",
                         lambda: self.project.swap_flip_pair(image_id, name))

    def swap_all(self, image_id: int) -> StoreEdit:
        schema = self.project.schema()
        if not schema.flip_pairs:
            raise UserInputError("the schema has no left/right pairs (define them in Edit > Edit keypoints)")
        rows = self.project.points(image_id)
        pairs = [(a, b) for a, b in schema.flip_pairs if a in rows or b in rows]
        if not pairs:
            raise UserInputError("no left/right keypoint is labelled on this image")
        keys = [(image_id, n) for pair in pairs for n in pair]

        def apply() -> None:
            for a, _ in pairs:
                self.project.swap_flip_pair(image_id, a)

        return self._run(keys, "swap all left/right pairs", apply)

    # -- review --------------------------------------------------------------------------------
    def accept_image(self, image_id: int, *, min_confidence: float | None = None) -> int:
        """Accept the image's predictions as they are (those at or above ``min_confidence``
        when given), one undo step; returns how many."""
        self.project.check_reviewable(image_id)
        predicted = [n for n, r in self.project.points(image_id).items() if r.status == PREDICTED
                     and (min_confidence is None or (r.confidence is not None and r.confidence >= min_confidence))]
        if not predicted:
            return 0
        text = f"accept {len(predicted)} predictions" + (f" ≥ {min_confidence:.2f}" if min_confidence is not None else "")
        cmd = self._run([(image_id, n) for n in predicted], text,
                        lambda: self.project.accept_predictions([image_id], names=predicted, one_object=True))
        return int(cmd.result or 0)

    def accept_point(self, image_id: int, name: str) -> StoreEdit:
        self.project.check_reviewable(image_id)
        return self._run([(image_id, name)], f"accept {name}",
                         lambda: self.project.accept_predictions([image_id], names=[name]))

    def reject_point(self, image_id: int, name: str, *, absent: bool) -> StoreEdit:
        """A wrong prediction: back to unlabelled, or (``absent``) the keypoint is not there."""
        self.project.check_reviewable(image_id)
        if absent:
            return self._run([(image_id, name)], f"reject {name} (absent)", lambda: self.project.set_absent(image_id, name))
        return self._run([(image_id, name)], f"reject {name}", lambda: self.project.delete_point(image_id, name))

    def accept_above_command(self, threshold: float, *, exclude_models: tuple[str, ...] = ()) -> StoreEdit | None:
        """Accept every prediction with confidence >= ``threshold`` project-wide (but those of
        ``exclude_models``), as one executed (not yet pushed) edit; reads in bulk, so it may run
        off the UI thread. None: nothing."""
        points = [p for p in self.project.review_points() if p.confidence is not None and p.confidence >= threshold
                  and p.model not in exclude_models]
        if not points:
            return None
        images = sorted({p.image_id for p in points})
        keys = [(p.image_id, p.name) for p in points]
        wanted = set(keys)

        def read_after(_: list[RowKey]) -> dict:
            rows = {(r.image_id, r.name): r for r in self.project.all_points(statuses=[ACCEPTED]) if (r.image_id, r.name) in wanted}
            return {k: rows.get(k) for k in keys} if len(rows) != len(keys) else rows

        cmd = StoreEdit(
            self.project, keys, f"accept {len(points)} predictions ≥ {threshold:.2f}",
            lambda: self.project.accept_predictions(images, min_confidence=threshold, exclude_models=exclude_models),
            self._notify_history, before={(p.image_id, p.name): p for p in points}, read_after=read_after,
        )
        cmd.execute()
        return cmd

    def accept_above(self, threshold: float) -> int:
        """:meth:`accept_above_command` and push it (one undo step); returns how many."""
        cmd = self.accept_above_command(threshold)
        if cmd is None:
            return 0
        self.push(cmd)
        return int(cmd.result or 0)

    def count_above(self, threshold: float) -> tuple[int, int]:
        """(predictions at or above ``threshold``, all predictions awaiting review)."""
        points = self.project.review_points()
        return sum(1 for p in points if p.confidence is not None and p.confidence >= threshold), len(points)
