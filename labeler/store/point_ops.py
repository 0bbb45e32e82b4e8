"""Confirmed points: what a person sets, corrects, accepts, marks absent/occluded, or undoes.

Provenance is kept consistent by the store: a row that came from a prediction keeps the
engine's original position (pred_x, pred_y), confidence, method and model, and its status says
whether the person kept it (accepted) or moved it (corrected); a point placed from scratch is
manual and carries no prediction data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import and_, bindparam, delete, false, func, or_, select, update
from sqlalchemy.orm import Session

from labeler.display import MAX_LISTED, listing, shown
from labeler.errors import ProjectError, UserInputError
from labeler.store.dialects import NotStoredAs
from labeler.store.dialects import insert as dialect_insert
from labeler.store.core import (
    INSTANCE_T,
    POINT_T,
    ProjectCore,
    check_xy,
    first_instances,
    image_row,
    in_first_instance,
    in_ids,
    keypoint_id,
    keypoint_ids,
    now,
    point_records,
    recompute_review,
    select_points,
    unflagged_images,
    unknown_keypoint,
)
from labeler.store.models import FlipPairRow, ImageRow, KeypointRow, PointRow
from labeler.store.records import (
    ABSENT,
    ACCEPTED,
    CONFIRMED_STATUSES,
    CORRECTED,
    MANUAL,
    OCCLUDED,
    POINT_STATUSES,
    PREDICTED,
    VISIBLE,
    PointRecord,
)

#: What :meth:`PointOps.set_points` takes per keypoint: ``(x, y)``, ``(x, y, visibility)``,
#: ``"absent"``, ``"occluded"`` / ``"visible"`` (keep the point's current position), or
#: ``"unlabeled"`` (no row: not labelled yet).
PointValue = tuple[float, float] | tuple[float, float, int] | str
UNLABELED_VALUE = "unlabeled"

_COLUMNS = (
    "x", "y", "visibility", "status", "confidence", "method", "model", "pred_x", "pred_y", "created_at", "updated_at",
    "annotator",
)


def upsert_rows(s: Session, rows: list[dict[str, Any]]) -> None:
    """Insert or fully overwrite point rows (caller holds the write lock and decided it may).
    A new row is version 1; an overwritten one goes up by one. A row without ``instance_id``
    goes to its image's first instance (made when the image has none)."""
    if not rows:
        return
    rows = with_instances(s, rows)
    ins = dialect_insert(s, POINT_T)
    stmt = ins.on_conflict_do_update(
        index_elements=[POINT_T.c.instance_id, POINT_T.c.keypoint_id],
        set_={**{c: ins.excluded[c] for c in _COLUMNS}, "version": POINT_T.c.version + 1},
    )
    s.execute(stmt, [{**r, "version": 1} for r in rows])


def with_instances(s: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with ``instance_id`` filled in (the image's first instance) where missing."""
    need = {r["image_id"] for r in rows if r.get("instance_id") is None}
    if not need:
        return rows
    first = first_instances(s, need)
    return [r if r.get("instance_id") is not None else {**r, "instance_id": first[r["image_id"]]} for r in rows]


def instance_of(s: Session, image_id: int, instance_id: int | None, *, create: bool = True) -> int | None:
    """The instance an edit of ``image_id`` goes to: ``instance_id`` (checked to belong to the
    image), else the image's first (made when ``create`` and there is none)."""
    if instance_id is None:
        return first_instances(s, [image_id], create=create).get(int(image_id))
    owner = s.execute(select(INSTANCE_T.c.image_id).where(INSTANCE_T.c.id == int(instance_id))).scalar()
    if owner is None:
        raise UserInputError(f"no instance with id {instance_id} in this project")
    if int(owner) != int(image_id):
        raise UserInputError(f"instance {instance_id} belongs to another image (id {owner}), not to image {image_id}")
    return int(instance_id)


class EditConflict(UserInputError):
    """Someone else changed a point since this edit's copy of it was read (nothing was written)."""


def check_versions(
    s: Session, image: ImageRow, ids: Mapping[str, int], expected: Mapping[str, int | None], instance_id: int | None = None
) -> None:
    """Refuse the edit when a stored row is not the version it was based on (None: no row).

    Runs under the writer lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: LOCK TABLE point), so no
    other write can slip in between this check and the edit.
    """
    for name, version in expected.items():
        if name not in ids:
            raise unknown_keypoint(name, ids)
        row = existing_row(s, instance_id, ids[name])
        stored = None if row is None else row.version
        if stored == version:
            continue
        if row is None:
            what = "was removed"
        else:
            who = f" by {row.annotator}" if row.annotator and row.status in CONFIRMED_STATUSES else ""
            when = time.strftime("%H:%M:%S", time.localtime(row.updated_at))
            what = f"was changed{who} at {when} (now {row.status}, version {row.version})"
        base = "no point" if version is None else f"version {version}"
        raise EditConflict(
            f"{name} on {image.path} {what} after you loaded it ({base}); nothing was saved: "
            "reload the image to see the change, then edit again"
        )


def existing_row(s: Session, instance_id: int | None, kp_id: int) -> PointRow | None:
    """The row of one instance's keypoint (None: not labelled, or no instance yet)."""
    if instance_id is None:
        return None
    return s.get(PointRow, (instance_id, kp_id), populate_existing=True)


def confirmed_values(
    existing: PointRow | None,
    *,
    x: float | None,
    y: float | None,
    visibility: int,
    status: str,
    t: float,
    method: str | None = None,
    user: str | None = None,
) -> dict[str, Any]:
    """The row a person's edit produces, keeping prediction provenance (see module docstring)."""
    if status not in CONFIRMED_STATUSES:
        raise UserInputError(f"a confirmed point's status is one of {', '.join(CONFIRMED_STATUSES)}, not {status!r}")
    if visibility == ABSENT:
        x = y = None
    pred = None
    if existing is not None and existing.status == PREDICTED:
        pred = (existing.x, existing.y)
    elif existing is not None and existing.pred_x is not None:
        pred = (existing.pred_x, existing.pred_y)
    if pred is None:
        status = MANUAL
        keep: dict[str, Any] = {"confidence": None, "method": method, "model": None}
    else:
        unchanged = (x, y) == pred
        if status == MANUAL or (status == ACCEPTED and not unchanged):
            status = ACCEPTED if unchanged else CORRECTED
        assert existing is not None
        keep = {"confidence": existing.confidence, "method": existing.method, "model": existing.model}
    return {
        "x": x,
        "y": y,
        "visibility": visibility,
        "status": status,
        **keep,
        "pred_x": None if pred is None else pred[0],
        "pred_y": None if pred is None else pred[1],
        "created_at": existing.created_at if existing is not None else t,
        "updated_at": t,
        "annotator": user,
    }


def _check_statuses(statuses: Iterable[str]) -> list[str]:
    wanted = list(statuses)
    bad = [st for st in wanted if st not in POINT_STATUSES]
    if bad:
        raise UserInputError(f"unknown point status {bad[0]!r}; choose from {', '.join(POINT_STATUSES)}")
    return wanted


def _check_visibility(v: object, name: str) -> int:
    if v not in (ABSENT, OCCLUDED, VISIBLE) or isinstance(v, bool):
        raise UserInputError(f"{name}: visibility must be 0 (absent), 1 (occluded) or 2 (visible), got {v!r}")
    return int(v)  # type: ignore[call-overload]


#: SQLite storage classes a coordinate may have.
NUMERIC = ("integer", "real")


class PointOps(ProjectCore):
    #: image id -> the instance the single-object calls use instead of the image's first (the
    #: app's selected object; see InstanceOps.focus_instance). Empty: always the first.
    _focus: dict[int, int]

    def _focused(self, s: Session, image_id: int) -> int | None:
        """The focused instance of the image when it still exists there, else None."""
        wanted = getattr(self, "_focus", {}).get(int(image_id))
        if wanted is None:
            return None
        owner = s.execute(select(INSTANCE_T.c.image_id).where(INSTANCE_T.c.id == wanted)).scalar()
        return wanted if owner is not None and int(owner) == int(image_id) else None

    # -- reading -------------------------------------------------------------------------------
    def points(self, image_id: int, instance_id: int | None = None) -> dict[str, PointRecord]:
        """Every row of one instance of an image (default: its first), name -> record, in schema
        order (unlabelled keypoints absent)."""
        with self._read() as s:
            image_row(s, image_id)
            focused = self._focused(s, image_id) if instance_id is None else None
            if focused is not None:
                which = PointRow.instance_id == focused
            elif instance_id is None:
                which = in_first_instance(int(image_id))
            else:
                which = PointRow.instance_id == instance_of(s, image_id, instance_id, create=False)
            rows = point_records(
                s.execute(select_points().where(PointRow.image_id == image_id, which).order_by(KeypointRow.position))
            )
            return {r.name: r for r in rows}

    def all_points(self, *, statuses: Iterable[str] | None = None, unflagged: bool = False) -> list[PointRecord]:
        """Every row of the project (one query), ordered by image path then schema order; with
        ``unflagged`` only those of images without a flag (propagation's references)."""
        stmt = select_points().join(ImageRow, PointRow.image_id == ImageRow.id).order_by(ImageRow.path, KeypointRow.position)
        if unflagged:
            stmt = stmt.where(ImageRow.flag.is_(None))
        if statuses is not None:
            stmt = stmt.where(PointRow.status.in_(_check_statuses(statuses)))
        with self._read() as s:
            return point_records(s.execute(stmt))

    def check_positions(self, *, statuses: Iterable[str] | None = None) -> None:
        """Refuse to go on when a point's position is not a finite number inside its image.

        labeler never writes such a row, but a project file from someone else (or one edited by
        another tool) can hold one; exports call this so no ``inf`` or off-image point is written."""
        x, y = PointRow.x, PointRow.y
        bad = or_(
            NotStoredAs(x, NUMERIC),
            NotStoredAs(y, NUMERIC),
            x < 0,
            y < 0,
            x > ImageRow.width,
            y > ImageRow.height,
        )
        stmt = (
            select(ImageRow.path, KeypointRow.name, x, y, ImageRow.width, ImageRow.height)
            .join_from(PointRow, ImageRow, PointRow.image_id == ImageRow.id)
            .join(KeypointRow, PointRow.keypoint_id == KeypointRow.id)
            .where(PointRow.visibility > 0, bad)
            .order_by(ImageRow.path, KeypointRow.position)
        )
        if statuses is not None:
            stmt = stmt.where(PointRow.status.in_(_check_statuses(statuses)))
        with self._read() as s:
            rows = s.execute(stmt.limit(MAX_LISTED + 1)).all()
            if not rows:
                return
            total = s.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        lines = [f"{shown(p)} {shown(n)}: ({shown(px, 40)}, {shown(py, 40)}) in a {w}x{h} image" for p, n, px, py, w, h in rows]
        raise UserInputError(
            f"{total} point(s) of this project have a position that is not a number inside their image "
            f"(the project file was changed by another program):\n{listing(lines[:MAX_LISTED])}"
            + (f"\n  ... and {total - MAX_LISTED} more" if total > MAX_LISTED else "")
            + "\nset them again with `labeler label PROJECT IMAGE NAME=x,y` (or NAME=unlabeled) before exporting"
        )

    def point_counts(self, *, statuses: Iterable[str] | None = None) -> dict[str, int]:
        """How many point rows each keypoint has (absent ones included), only those with one of
        ``statuses`` when given: name -> count for every keypoint, in schema order.

        One GROUP BY over the point table's keypoint index; reading every row to count them
        took 1.3 s for 120k points (the warning before removing a keypoint).
        """
        on = PointRow.keypoint_id == KeypointRow.id
        if statuses is not None:
            on = and_(on, PointRow.status.in_(_check_statuses(statuses)))
        stmt = (
            select(KeypointRow.name, func.count(PointRow.keypoint_id))
            .join_from(KeypointRow, PointRow, on, isouter=True)
            .group_by(KeypointRow.id)
            .order_by(KeypointRow.position, KeypointRow.id)
        )
        with self._read() as s:
            return {name: int(n) for name, n in s.execute(stmt)}

    def confirmed_per_image(self) -> dict[int, int]:
        """image id -> how many of its keypoints a person decided (placed, accepted, corrected,
        absent included); images with none are left out. One GROUP BY (the image list's "k/K")."""
        stmt = (
            select(PointRow.image_id, func.count())
            .where(PointRow.status.in_(CONFIRMED_STATUSES))
            .group_by(PointRow.image_id)
        )
        with self._read() as s:
            return {int(i): int(n) for i, n in s.execute(stmt)}

    # -- a person's edits ----------------------------------------------------------------------
    def set_points(
        self,
        image_id: int,
        points: Mapping[str, PointValue],
        *,
        status: str = MANUAL,
        expected_versions: Mapping[str, int | None] | None = None,
        instance_id: int | None = None,
    ) -> dict[str, PointRecord]:
        """Set several confirmed points of one image at once: all are checked, then all written.

        Values: ``(x, y)`` (visible), ``(x, y, visibility)``, ``"absent"``, ``"occluded"`` or
        ``"visible"`` (keep the current position, confirmed or predicted; an error if there is
        none), or ``"unlabeled"`` (delete the row: back to not labelled).
        ``status`` is the intent (manual, accepted or corrected); rows that came from a
        prediction become accepted or corrected, others manual. The edit records
        :attr:`user` as the annotator.

        ``expected_versions`` (name -> the :attr:`PointRecord.version` the edit was made from,
        None for "no row") makes the edit optimistic: if anyone wrote one of those rows since,
        :class:`EditConflict` is raised and nothing is written. ``instance_id`` names the
        object of the image the points belong to (default: the image's first, made if needed).
        """
        if status not in CONFIRMED_STATUSES:
            raise UserInputError(f"status must be one of {', '.join(CONFIRMED_STATUSES)}, not {status!r}")
        t = now()
        with self._write() as s, s.begin():
            image = image_row(s, image_id)
            ids = keypoint_ids(s)
            inst = instance_of(s, image.id, instance_id if instance_id is not None else self._focused(s, image.id))
            if expected_versions:
                check_versions(s, image, ids, expected_versions, inst)
            rows = []
            deleted: list[int] = []
            for name, value in points.items():
                if name not in ids:
                    raise unknown_keypoint(name, ids)
                existing = existing_row(s, inst, ids[name])
                x: float | None
                y: float | None
                if value == UNLABELED_VALUE:
                    if existing is not None:
                        deleted.append(ids[name])
                    continue
                if value == "absent":
                    x = y = None
                    vis = ABSENT
                elif value in ("occluded", "visible"):
                    if existing is None or existing.x is None:
                        raise UserInputError(f"{name}: has no position yet to mark {value}; place the point first")
                    x, y, vis = existing.x, existing.y, OCCLUDED if value == "occluded" else VISIBLE
                elif isinstance(value, (tuple, list)) and len(value) in (2, 3):
                    vis = _check_visibility(value[2], name) if len(value) == 3 else VISIBLE
                    if vis == ABSENT:
                        x = y = None
                    else:
                        x, y = check_xy(name, value[0], value[1], image.width, image.height)
                else:
                    raise UserInputError(
                        f"{name}: expected (x, y), 'absent', 'occluded', 'visible' or 'unlabeled', got {value!r}"
                    )
                row = confirmed_values(existing, x=x, y=y, visibility=vis, status=status, t=t, user=self.user)
                rows.append({"image_id": image.id, "keypoint_id": ids[name], "instance_id": inst, **row})
            if rows:
                upsert_rows(s, rows)
            if deleted:
                gone = s.execute(delete(POINT_T).where(POINT_T.c.instance_id == inst, in_ids(POINT_T.c.keypoint_id, deleted)))
                if gone.rowcount != len(deleted):  # PostgreSQL's row security hid someone else's point
                    raise ProjectError("your database role may not delete a point someone else confirmed; "
                                       "nothing was saved (a reviewer or admin can)")
            recompute_review(s, [image.id])
            # read back inside the transaction: after it, another writer's edit could already be there
            # and this call would report a version it never wrote
            written = point_records(
                s.execute(select_points().where(PointRow.instance_id == inst).order_by(KeypointRow.position))
            )
        return {r.name: r for r in written}

    def set_point(
        self,
        image_id: int,
        name: str,
        x: float,
        y: float,
        *,
        visibility: int = VISIBLE,
        status: str = MANUAL,
    ) -> PointRecord:
        """Place a confirmed point (bounds: ``0 <= x <= width``, ``0 <= y <= height``)."""
        if _check_visibility(visibility, name) == ABSENT:
            return self.set_absent(image_id, name)
        return self.set_points(image_id, {name: (x, y, visibility)}, status=status)[name]

    def correct_point(self, image_id: int, name: str, x: float, y: float, *, visibility: int | None = None) -> PointRecord:
        """Move a point (typically a prediction) to where it belongs.

        The prediction's position stays in pred_x/pred_y; visibility defaults to the current
        one (visible when there is none).
        """
        if visibility is None:
            current = self.points(image_id).get(name)
            visibility = current.visibility if current is not None and current.visibility != ABSENT else VISIBLE
        return self.set_points(image_id, {name: (x, y, visibility)}, status=CORRECTED)[name]

    def set_absent(self, image_id: int, name: str) -> PointRecord:
        """The person says this keypoint is not in the image (a confirmed row, visibility 0)."""
        return self.set_points(image_id, {name: "absent"})[name]

    def set_occluded(self, image_id: int, name: str, x: float | None = None, y: float | None = None) -> PointRecord:
        """Occluded at (x, y), or at the point's current position when no position is given."""
        value: PointValue = "occluded" if x is None or y is None else (x, y, OCCLUDED)
        return self.set_points(image_id, {name: value})[name]

    def delete_point(self, image_id: int, name: str) -> bool:
        """Back to "not labelled" (no row). Returns whether there was a row."""
        with self._write() as s, s.begin():
            image_row(s, image_id)
            kp = keypoint_id(s, name)
            focused = self._focused(s, image_id)
            which = in_first_instance(int(image_id)) if focused is None else PointRow.instance_id == focused
            gone = s.execute(delete(PointRow).where(PointRow.image_id == image_id, which, PointRow.keypoint_id == kp)).rowcount
            recompute_review(s, [image_id])
            return bool(gone)

    def accept_predictions(
        self,
        image_ids: Iterable[int] | None = None,
        *,
        names: Iterable[str] | None = None,
        min_confidence: float | None = None,
        exclude_models: Iterable[str] = (),
        one_object: bool = False,
    ) -> int:
        """Accept predicted points as they are; returns how many.

        Flagged images are never touched (FLAGS_OUT_OF_REVIEW; :meth:`check_reviewable` says
        why to someone who named one) and confirmed points never change. ``image_ids`` None
        means every image; ``names`` None every keypoint; with
        ``min_confidence`` only predictions at or above it (unknown confidence never qualifies);
        predictions of ``exclude_models`` (e.g. random-weight test models) are left alone.
        ``one_object`` (with ``image_ids``): only the object the single-object calls use on each
        image (the focused one, else the first), as :meth:`points` shows it: the app's Space.
        """
        t = now()
        with self._write() as s, s.begin():
            stmt = (
                update(POINT_T)
                .where(POINT_T.c.status == PREDICTED, POINT_T.c.image_id.in_(unflagged_images()))
                .values(
                    status=ACCEPTED, pred_x=POINT_T.c.x, pred_y=POINT_T.c.y, updated_at=t,
                    version=POINT_T.c.version + 1, annotator=self.user,
                )
                .returning(POINT_T.c.image_id)
            )
            if image_ids is not None:
                image_ids = [int(i) for i in image_ids]
                stmt = stmt.where(in_ids(POINT_T.c.image_id, image_ids))
                if one_object:
                    chosen = {i: self._focused(s, i) for i in image_ids}
                    stmt = stmt.where(or_(false(), *(
                        and_(POINT_T.c.image_id == i, in_first_instance(i) if f is None else POINT_T.c.instance_id == f)
                        for i, f in chosen.items())))
            if names is not None:
                ids = keypoint_ids(s)
                wanted = list(names)
                for n in wanted:
                    if n not in ids:
                        raise unknown_keypoint(n, ids)
                stmt = stmt.where(in_ids(POINT_T.c.keypoint_id, [ids[n] for n in wanted]))
            if min_confidence is not None:
                stmt = stmt.where(POINT_T.c.confidence >= float(min_confidence))
            excluded = list(exclude_models)
            if excluded:
                stmt = stmt.where(or_(POINT_T.c.model.is_(None), POINT_T.c.model.not_in(excluded)))
            touched = s.execute(stmt).scalars().all()
            recompute_review(s, set(touched))
            return len(touched)

    def swap_flip_pair(self, image_id: int, name: str) -> dict[str, PointRecord]:
        """Swap ``name`` and its flip counterpart on one image (a left/right mix-up).

        Positions and visibilities trade places; each keypoint keeps its own prediction data
        (so the error of the original prediction can still be measured), and both rows become
        confirmed: corrected when they came from a prediction, manual otherwise.
        """
        t = now()
        with self._write() as s, s.begin():
            image_row(s, image_id)
            ids = keypoint_ids(s)
            if name not in ids:
                raise unknown_keypoint(name, ids)
            pair = s.execute(
                select(FlipPairRow.left_id, FlipPairRow.right_id).where(
                    (FlipPairRow.left_id == ids[name]) | (FlipPairRow.right_id == ids[name])
                )
            ).first()
            if pair is None:
                raise UserInputError(f"keypoint {name!r} is not in a flip pair")
            a, b = pair
            inst = self._focused(s, image_id) or instance_of(s, image_id, None, create=False)
            ra, rb = existing_row(s, inst, a), existing_row(s, inst, b)
            if ra is None and rb is None:
                raise UserInputError(f"neither {name!r} nor its counterpart is labelled on this image")
            rows = []
            for own, other, kp in ((ra, rb, a), (rb, ra, b)):
                if other is None:
                    s.execute(delete(PointRow).where(PointRow.instance_id == inst, PointRow.keypoint_id == kp))
                    continue
                values = confirmed_values(
                    own, x=other.x, y=other.y, visibility=other.visibility, status=CORRECTED, t=t, user=self.user
                )
                rows.append({"image_id": image_id, "keypoint_id": kp, "instance_id": inst, **values})
            upsert_rows(s, rows)
            recompute_review(s, [image_id])
        return self.points(image_id)

    # -- undo / redo ---------------------------------------------------------------------------
    def snapshot_point(self, image_id: int, name: str) -> PointRecord | None:
        """The row exactly as it is (None: not labelled), for :meth:`restore_point`."""
        return self.points(image_id).get(name)

    def restore_point(self, image_id: int, name: str, snapshot: PointRecord | None) -> None:
        """Put one (image, keypoint) row back exactly as snapshotted; None deletes it.

        This is the GUI's undo/redo: it may turn a confirmed row back into a prediction.
        """
        self.restore_points([(image_id, name, snapshot)])

    def restore_points(self, rows: Iterable[tuple[int, str, PointRecord | None]]) -> None:
        """:meth:`restore_point` for many rows in one transaction (undo of a bulk accept).

        Every row is checked first, then written set-based: one lookup of the images, one
        executemany DELETE for the rows that go back to "not labelled", one executemany upsert
        (it overwrites every column, so it equals delete-then-insert) and one review recompute.
        Undoing a bulk accept of 120k predictions takes about a second, not half a minute.
        When a key is listed twice, its last snapshot wins; None wins only if it is the sole kind.
        """
        listed = [(int(image_id), name, snapshot) for image_id, name, snapshot in rows]
        if not listed:
            return
        with self._write() as s, s.begin():
            ids = keypoint_ids(s)
            wanted = {image_id for image_id, _, _ in listed}
            known = set(s.execute(select(ImageRow.id).where(in_ids(ImageRow.id, wanted))).scalars())
            gone: list[dict[str, int]] = []
            upserts: list[dict[str, Any]] = []
            for image_id, name, snapshot in listed:
                if image_id not in known:
                    raise UserInputError(f"no image with id {image_id} in this project")
                if name not in ids:
                    raise unknown_keypoint(name, ids)
                kp = ids[name]
                if snapshot is None:
                    gone.append({"b_image": image_id, "b_kp": kp})
                    continue
                if snapshot.status not in POINT_STATUSES:
                    raise UserInputError(f"unknown point status {snapshot.status!r}")
                vis = _check_visibility(snapshot.visibility, name)
                if vis != ABSENT:
                    assert snapshot.x is not None and snapshot.y is not None
                    if not (math.isfinite(snapshot.x) and math.isfinite(snapshot.y)):
                        raise UserInputError(f"{name}: snapshot has no valid position")
                values = {c: getattr(snapshot, c) for c in _COLUMNS}
                upserts.append(
                    {"image_id": image_id, "keypoint_id": kp, "instance_id": snapshot.instance_id, **values}
                )
            # a snapshot's instance that was deleted since: its point goes back to the image's first
            alive = {
                (int(i), int(m))
                for i, m in s.execute(
                    select(INSTANCE_T.c.id, INSTANCE_T.c.image_id).where(
                        in_ids(INSTANCE_T.c.id, {u["instance_id"] for u in upserts if u["instance_id"] is not None})
                    )
                )
            }
            for u in upserts:
                if (u["instance_id"], u["image_id"]) not in alive:
                    u["instance_id"] = self._focused(s, u["image_id"])
            if gone:  # each image's focused instance, else its first (one query for all)
                first = first_instances(s, {g["b_image"] for g in gone}, create=False)
                gone = [
                    {"b_inst": target, "b_kp": g["b_kp"]}
                    for g in gone
                    if (target := self._focused(s, g["b_image"]) or first.get(g["b_image"])) is not None
                ]
            if gone:
                s.execute(
                    delete(POINT_T).where(
                        POINT_T.c.instance_id == bindparam("b_inst"), POINT_T.c.keypoint_id == bindparam("b_kp")
                    ),
                    gone,
                )
            upsert_rows(s, upserts)
            recompute_review(s, wanted)
