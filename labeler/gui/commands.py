"""Undo/redo of store edits.

Every edit is one :class:`StoreEdit`: it snapshots the (image, keypoint) rows it may touch,
runs the store call (committed at once), snapshots them again; undo and redo put either
snapshot back with :meth:`Project.restore_point`, so they restore exactly what was there
(a confirmed point can become a prediction again). An edit that fails (a LabelerError) is
never pushed, and what it might have half-done is put back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from PyQt6.QtGui import QUndoCommand

from labeler.store import PointRecord, Project

RowKey = tuple[int, str]  # (image id, keypoint name)
Snapshot = dict[RowKey, PointRecord | None]


#: Above this many images a snapshot reads every point of the project once instead of one
#: query per image.
BULK_IMAGES = 200
BULK_ROWS = 2000


def snapshot(project: Project, keys: Iterable[RowKey]) -> Snapshot:
    """Rows as they are now (None = not labelled)."""
    by_image: dict[int, list[str]] = defaultdict(list)
    for image_id, name in keys:
        by_image[image_id].append(name)
    out: Snapshot = {}
    if len(by_image) > BULK_IMAGES:
        wanted = {(i, n) for i, names in by_image.items() for n in names}
        out = dict.fromkeys(wanted)
        for row in project.all_points():
            if (row.image_id, row.name) in wanted:
                out[(row.image_id, row.name)] = row
        return out
    for image_id, names in by_image.items():
        rows = project.points(image_id)
        for name in names:
            out[(image_id, name)] = rows.get(name)
    return out


def restore(project: Project, target: Snapshot) -> None:
    """Make the rows equal ``target`` in one transaction; rows already equal are left alone
    (for a bulk edit every row is written: comparing would cost another full read)."""
    if len(target) > BULK_ROWS:
        changed = [(image_id, name, row) for (image_id, name), row in target.items()]
    else:
        current = snapshot(project, target)
        changed = [(i, n, row) for (i, n), row in target.items() if current[(i, n)] != row]
    if changed:
        project.restore_points(changed)


class StoreEdit(QUndoCommand):
    """One undoable edit. Call :meth:`execute` first (it may raise); then push it: the stack's
    first redo() is a no-op because the edit is already in the store."""

    def __init__(
        self,
        project: Project,
        keys: Iterable[RowKey],
        text: str,
        apply: Callable[[], object],
        notify: Callable[[set[int]], None] | None = None,
        *,
        before: Snapshot | None = None,
        read_after: Callable[[list[RowKey]], Snapshot] | None = None,
    ) -> None:
        super().__init__(text)
        self.project = project
        self.keys = list(dict.fromkeys(keys))
        self._apply = apply
        self._notify = notify
        self.before: Snapshot = before if before is not None else {}
        self._known_before = before is not None
        self._read_after = read_after
        self.after: Snapshot = {}
        self._done_once = False
        self._restored = False  # the next undo/redo was already written (off the UI thread)
        self.result: object = None

    @property
    def image_ids(self) -> set[int]:
        return {k[0] for k in self.keys}

    def execute(self) -> object:
        """Snapshot, apply, snapshot (callable from a worker thread: it touches only the store)."""
        if not self._known_before:
            self.before = snapshot(self.project, self.keys)
        try:
            self.result = self._apply()
        except BaseException:
            restore(self.project, self.before)
            raise
        self.after = (self._read_after or (lambda keys: snapshot(self.project, keys)))(self.keys)
        return self.result

    @property
    def changed_anything(self) -> bool:
        return self.before != self.after

    @property
    def is_bulk(self) -> bool:
        """Large enough that undo/redo should write off the UI thread (seconds, not ms)."""
        return len(self.keys) > BULK_ROWS

    def restore_state(self, undo: bool) -> None:
        """Write the snapshot undo (or redo) puts back, from any thread; the stack's next
        undo()/redo() then only moves the index and notifies."""
        restore(self.project, self.before if undo else self.after)
        self._restored = True

    def redo(self) -> None:
        if not self._done_once:
            self._done_once = True
            return
        if not self._restored:
            restore(self.project, self.after)
        self._restored = False
        if self._notify is not None:
            self._notify(self.image_ids)

    def undo(self) -> None:
        if not self._restored:
            restore(self.project, self.before)
        self._restored = False
        if self._notify is not None:
            self._notify(self.image_ids)
