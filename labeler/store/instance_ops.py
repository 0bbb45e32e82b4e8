"""Several objects per image: instances, their boxes and names (schema 6).

An instance owns its points (deleting it deletes them, in SQL); its box is (x, y, w, h) in
image pixels with the place it came from (drawn, imported, detected, derived). The
single-object calls of the store (``points(image_id)``, ``set_points(image_id, ...)``) read and
write the image's first instance, so a project of one object per image works as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select, update

from labeler.errors import UserInputError
from labeler.store.core import (
    IMAGE_T,
    INSTANCE_T,
    POINT_T,
    ProjectCore,
    image_row,
    in_ids,
    keypoint_ids,
    now,
    recompute_review,
    unknown_keypoint,
)
from labeler.store.point_ops import upsert_rows
from labeler.store.records import BOX_DRAWN, BOX_SOURCES, CONFIRMED_STATUSES, MANUAL, UNLABELED, ImportedPoint, InstanceRecord

Box = tuple[float, float, float, float]

_COLUMNS = (
    INSTANCE_T.c.id, INSTANCE_T.c.image_id, INSTANCE_T.c.name, INSTANCE_T.c.box_x, INSTANCE_T.c.box_y,
    INSTANCE_T.c.box_w, INSTANCE_T.c.box_h, INSTANCE_T.c.box_source, INSTANCE_T.c.review_status, INSTANCE_T.c.created_at,
)


def _record(row: Sequence) -> InstanceRecord:  # type: ignore[type-arg]
    i, image_id, name, x, y, w, h, source, review, created = row
    box = None if x is None else (float(x), float(y), float(w), float(h))
    return InstanceRecord(int(i), int(image_id), name, box, source, review, float(created))


def check_box(box: Sequence[float], width: int, height: int) -> Box:
    """A box clipped to the image, refused when it is not four finite numbers with a positive
    size that overlaps the image."""
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        raise UserInputError(f"a box is four numbers x,y,w,h; got {box!r}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise UserInputError(f"a box needs finite numbers and a positive width and height; got {x:g},{y:g},{w:g},{h:g}")
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, float(width)), min(y + h, float(height))
    if x1 <= x0 or y1 <= y0:
        raise UserInputError(f"the box {x:g},{y:g},{w:g},{h:g} lies outside the {width}x{height} image")
    return (x0, y0, x1 - x0, y1 - y0)


def _box_values(box: Box | None, source: str | None) -> dict[str, object]:
    if box is None:
        return {"box_x": None, "box_y": None, "box_w": None, "box_h": None, "box_source": None}
    if source not in BOX_SOURCES:
        raise UserInputError(f"a box's source is one of {', '.join(BOX_SOURCES)}, not {source!r}")
    return {"box_x": box[0], "box_y": box[1], "box_w": box[2], "box_h": box[3], "box_source": source}


def boxes_changed(s, image_ids: Iterable[int]) -> None:  # noqa: ANN001 - a Session
    """The images' objects changed: their last prediction no longer matches them, so the next
    run predicts them again instead of calling them up to date.

    On PostgreSQL an annotator may not write an image's prediction record (only reviewers may:
    labeler.store.roles); their box edit still goes through (a savepoint takes the refusal back),
    and propagation predicts every boxed instance that has no point yet whatever the record says."""
    from sqlalchemy import exc as sa_exc

    ids = list(image_ids)
    if not ids:
        return
    stmt = update(IMAGE_T).where(in_ids(IMAGE_T.c.id, ids), IMAGE_T.c.pred_signature.is_not(None)).values(pred_signature=None)
    if s.get_bind().dialect.name != "postgresql":
        s.execute(stmt)
        return
    from labeler.store.dialects.postgresql import PermissionRefused

    try:
        with s.begin_nested():
            s.execute(stmt)
    except PermissionRefused:
        pass
    except sa_exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient privilege
            raise


class InstanceOps(ProjectCore):
    def instances(self, image_id: int) -> list[InstanceRecord]:
        """The image's instances, first (lowest id) first."""
        with self._read() as s:
            image_row(s, image_id)
            rows = s.execute(select(*_COLUMNS).where(INSTANCE_T.c.image_id == int(image_id)).order_by(INSTANCE_T.c.id))
            return [_record(r) for r in rows]

    def focus_instance(self, image_id: int, instance_id: int | None) -> None:
        """Make this Project's single-object calls (``points(image_id)``, ``set_points``,
        ``delete_point``, ``swap_flip_pair``, undo) use ``instance_id`` on that image instead of
        its first instance (None: back to the first). Per Project object, not stored: the app's
        selected object, so every existing edit path works on it."""
        focus = self.__dict__.setdefault("_focus", {})
        if instance_id is None:
            focus.pop(int(image_id), None)
            return
        inst = self.instance(instance_id)
        if inst.image_id != int(image_id):
            raise UserInputError(f"instance {instance_id} belongs to another image")
        focus[int(image_id)] = inst.id

    def focused_instance(self, image_id: int) -> int | None:
        """The instance :meth:`focus_instance` chose on the image (None: its first is used)."""
        return self.__dict__.get("_focus", {}).get(int(image_id))

    def all_instances(self, *, image_ids: Iterable[int] | None = None) -> list[InstanceRecord]:
        """Every instance (or those of ``image_ids``), ordered by image path then id."""
        stmt = select(*_COLUMNS).join(IMAGE_T, IMAGE_T.c.id == INSTANCE_T.c.image_id).order_by(IMAGE_T.c.path, INSTANCE_T.c.id)
        if image_ids is not None:
            stmt = stmt.where(in_ids(INSTANCE_T.c.image_id, image_ids))
        with self._read() as s:
            return [_record(r) for r in s.execute(stmt)]

    def instances_to_review(self, image_id: int) -> list[int]:
        """The image's instances with predictions awaiting review, least confident first (by
        their lowest confidence; unknown confidence first): the order review goes in."""
        lowest = func.min(POINT_T.c.confidence)
        stmt = (
            select(POINT_T.c.instance_id)
            .where(POINT_T.c.image_id == int(image_id), POINT_T.c.status == "predicted")
            .group_by(POINT_T.c.instance_id)
            .order_by((func.count(POINT_T.c.confidence) < func.count()).desc(), lowest, POINT_T.c.instance_id)
        )
        with self._read() as s:
            return [int(i) for i in s.execute(stmt).scalars()]

    def images_with_unpredicted_boxes(self, image_ids: Iterable[int]) -> set[int]:
        """Of these images, those with a boxed instance that has no point at all (one query): a run
        predicts them even when their prediction record says up to date."""
        ids = list(image_ids)
        if not ids:
            return set()
        has_points = select(POINT_T.c.instance_id).where(POINT_T.c.instance_id == INSTANCE_T.c.id).exists()
        stmt = select(INSTANCE_T.c.image_id).where(
            in_ids(INSTANCE_T.c.image_id, ids), INSTANCE_T.c.box_x.is_not(None), ~has_points
        ).distinct()
        with self._read() as s:
            return {int(i) for i in s.execute(stmt).scalars()}

    def instance(self, instance_id: int) -> InstanceRecord:
        with self._read() as s:
            row = s.execute(select(*_COLUMNS).where(INSTANCE_T.c.id == int(instance_id))).first()
        if row is None:
            raise UserInputError(f"no instance with id {instance_id} in this project")
        return _record(row)

    def add_instance(
        self, image_id: int, *, box: Sequence[float] | None = None, box_source: str = BOX_DRAWN, name: str | None = None
    ) -> InstanceRecord:
        """A new object on the image (no points yet); the box is clipped to the image."""
        return self.add_instances([(image_id, box, box_source, name)])[0]

    def add_instances(
        self, items: Iterable[tuple[int, Sequence[float] | None, str, str | None]]
    ) -> list[InstanceRecord]:
        """Several new instances ``(image_id, box or None, box_source, name)`` in one transaction."""
        wanted = list(items)
        t = now()
        with self._write() as s, s.begin():
            made = []
            for image_id, box, source, name in wanted:
                image = image_row(s, image_id)
                checked = None if box is None else check_box(box, image.width, image.height)
                new_id = s.execute(
                    INSTANCE_T.insert()
                    .values(image_id=image.id, name=name, review_status=UNLABELED, created_at=t, **_box_values(checked, source))
                    .returning(INSTANCE_T.c.id)
                ).scalar_one()
                made.append(int(new_id))
            rows = s.execute(select(*_COLUMNS).where(in_ids(INSTANCE_T.c.id, made)).order_by(INSTANCE_T.c.id))
            found = {r[0]: _record(r) for r in rows}
            recompute_review(s, {w[0] for w in wanted})
            boxes_changed(s, {w[0] for w in wanted if w[1] is not None})
        return [found[i] for i in made]

    def set_box(self, instance_id: int, box: Sequence[float] | None, *, source: str = BOX_DRAWN) -> InstanceRecord:
        """Draw, adjust (``source`` drawn), accept a detected box (drawn) or remove it (None)."""
        with self._write() as s, s.begin():
            current = self._row(s, instance_id)
            image = image_row(s, current.image_id)
            checked = None if box is None else check_box(box, image.width, image.height)
            s.execute(update(INSTANCE_T).where(INSTANCE_T.c.id == current.id).values(**_box_values(checked, source)))
            boxes_changed(s, [current.image_id])
        return self.instance(instance_id)

    def rename_instance(self, instance_id: int, name: str | None) -> InstanceRecord:
        if name is not None and (not name.strip() or len(name) > 200 or not name.isprintable()):
            raise UserInputError(f"an instance name is 1 to 200 printable characters, not {name!r}")
        with self._write() as s, s.begin():
            self._row(s, instance_id)
            s.execute(update(INSTANCE_T).where(INSTANCE_T.c.id == int(instance_id)).values(name=name))
        return self.instance(instance_id)

    def delete_instance(self, instance_id: int) -> int:
        """Delete the instance and its points (ON DELETE CASCADE); returns how many points went."""
        with self._write() as s, s.begin():
            row = self._row(s, instance_id)
            n = s.execute(delete(POINT_T).where(POINT_T.c.instance_id == row.id)).rowcount
            s.execute(delete(INSTANCE_T).where(INSTANCE_T.c.id == row.id))
            recompute_review(s, [row.image_id])
            boxes_changed(s, [row.image_id])
            return int(n or 0)

    def delete_detected_boxes(self, image_ids: Iterable[int] | None = None) -> int:
        """Remove detector proposals nobody accepted: instances whose box is still ``detected``
        and that hold no confirmed point (their predictions go with them). Returns how many."""
        confirmed = select(POINT_T.c.instance_id).where(POINT_T.c.status.in_(CONFIRMED_STATUSES))
        stmt = select(INSTANCE_T.c.id, INSTANCE_T.c.image_id).where(
            INSTANCE_T.c.box_source == "detected", INSTANCE_T.c.id.not_in(confirmed)
        )
        if image_ids is not None:
            stmt = stmt.where(in_ids(INSTANCE_T.c.image_id, image_ids))
        with self._write() as s, s.begin():
            found = s.execute(stmt).all()
            if not found:
                return 0
            ids = [int(i) for i, _ in found]
            s.execute(delete(POINT_T).where(in_ids(POINT_T.c.instance_id, ids)))
            s.execute(delete(INSTANCE_T).where(in_ids(INSTANCE_T.c.id, ids)))
            recompute_review(s, {int(m) for _, m in found})
            return len(ids)

    def replace_unboxed_with_detected(self, image_id: int, boxes: Sequence[Sequence[float]]) -> list[InstanceRecord]:
        """Store a detector's boxes on an image as new *detected* instances, in one transaction;
        the image's instances that have no box and no confirmed point (an earlier whole-image
        prediction) go. Boxes that do not fit the image are left out."""
        t = now()
        with self._write() as s, s.begin():
            image = image_row(s, image_id)
            checked = []
            for box in boxes:
                try:
                    checked.append(check_box(box, image.width, image.height))
                except UserInputError:
                    continue
            if not checked:
                return []
            confirmed = select(POINT_T.c.instance_id).where(POINT_T.c.status.in_(CONFIRMED_STATUSES))
            stale = s.execute(
                select(INSTANCE_T.c.id).where(
                    INSTANCE_T.c.image_id == image.id, INSTANCE_T.c.box_x.is_(None), INSTANCE_T.c.id.not_in(confirmed)
                )
            ).scalars().all()
            if stale:
                s.execute(delete(POINT_T).where(in_ids(POINT_T.c.instance_id, stale)))
                s.execute(delete(INSTANCE_T).where(in_ids(INSTANCE_T.c.id, stale)))
            made = []
            for box in checked:
                made.append(int(s.execute(
                    INSTANCE_T.insert()
                    .values(image_id=image.id, review_status=UNLABELED, created_at=t, **_box_values(box, "detected"))
                    .returning(INSTANCE_T.c.id)
                ).scalar_one()))
            recompute_review(s, [image.id])
            boxes_changed(s, [image.id])
            rows = {r[0]: _record(r) for r in s.execute(select(*_COLUMNS).where(in_ids(INSTANCE_T.c.id, made)))}
        return [rows[i] for i in made]

    def merge_objects(
        self, items: dict[str, list[tuple[Sequence[float] | None, str, str | None, dict[str, ImportedPoint]]]]
    ) -> int:
        """An imported file's objects per image path, ``(box, box_source, name, points)`` in file
        order, in one transaction: object k goes to the image's k-th instance (made when missing),
        which takes its box and name; objects after the first also take their points as the file
        has them (the first object's points go through :meth:`merge_points`, with its conflict
        rules). Importing the same file again changes nothing. Returns the instances made."""
        t = now()
        made = 0
        with self._write() as s, s.begin():
            ids = keypoint_ids(s)
            touched = []
            for path, objects in items.items():
                image = s.execute(select(IMAGE_T).where(IMAGE_T.c.path == path)).first()
                if image is None:
                    raise UserInputError(f"no image {path!r} in this project")
                touched.append(image.id)
                have = list(s.execute(
                    select(INSTANCE_T.c.id).where(INSTANCE_T.c.image_id == image.id).order_by(INSTANCE_T.c.id)
                ).scalars())
                for k, (box, source, name, points) in enumerate(objects):
                    if k < len(have):
                        inst = have[k]
                    else:
                        inst = int(s.execute(
                            INSTANCE_T.insert().values(image_id=image.id, review_status=UNLABELED, created_at=t)
                            .returning(INSTANCE_T.c.id)
                        ).scalar_one())
                        made += 1
                    values: dict[str, object] = {}
                    if box is not None:
                        try:
                            values.update(_box_values(check_box(box, image.width, image.height), source))
                        except UserInputError:
                            pass
                    if name is not None:
                        values["name"] = name
                    if values:
                        s.execute(update(INSTANCE_T).where(INSTANCE_T.c.id == inst).values(**values))
                    if k == 0:
                        continue
                    rows = []
                    for kp, pt in points.items():
                        if kp not in ids:
                            raise unknown_keypoint(kp, ids)
                        absent = pt.visibility == 0
                        rows.append({
                            "image_id": image.id, "instance_id": inst, "keypoint_id": ids[kp],
                            "x": None if absent else float(pt.x), "y": None if absent else float(pt.y),  # type: ignore[arg-type]
                            "visibility": pt.visibility, "status": pt.status, "confidence": pt.confidence,
                            "method": None, "model": None, "pred_x": None, "pred_y": None, "created_at": t,
                            "updated_at": t, "annotator": None if pt.status == "predicted" else self.user,
                        })
                    upsert_rows(s, rows)
            recompute_review(s, touched)
            boxes_changed(s, touched)
        return made

    def copy_instance_points(self, source_id: int, target_id: int, *, offset: tuple[float, float] = (0.0, 0.0)) -> int:
        """Copy one instance's points into another of the same image as a start (manual points,
        shifted by ``offset`` and kept inside the image); the target's own points are replaced.
        Returns how many were copied."""
        t = now()
        with self._write() as s, s.begin():
            src, dst = self._row(s, source_id), self._row(s, target_id)
            if src.image_id != dst.image_id:
                raise UserInputError("points are copied between instances of the same image")
            if src.id == dst.id:
                raise UserInputError("an instance's points cannot be copied onto itself")
            image = image_row(s, src.image_id)
            rows = s.execute(select(POINT_T).where(POINT_T.c.instance_id == src.id)).mappings().all()
            s.execute(delete(POINT_T).where(POINT_T.c.instance_id == dst.id))
            out = []
            for r in rows:
                x = None if r["x"] is None else min(max(r["x"] + offset[0], 0.0), float(image.width))
                y = None if r["y"] is None else min(max(r["y"] + offset[1], 0.0), float(image.height))
                out.append({
                    "image_id": image.id, "instance_id": dst.id, "keypoint_id": r["keypoint_id"], "x": x, "y": y,
                    "visibility": r["visibility"], "status": MANUAL, "confidence": None, "method": None,
                    "model": None, "pred_x": None, "pred_y": None, "created_at": t, "updated_at": t,
                    "annotator": self.user,
                })
            upsert_rows(s, out)
            recompute_review(s, [image.id])
            return len(out)

    def duplicate_instance(self, instance_id: int, *, offset: tuple[float, float] = (0.0, 0.0)) -> InstanceRecord:
        """A new instance with this one's box (shifted, drawn) and a copy of its points."""
        src = self.instance(instance_id)
        box = None if src.box is None else (src.box[0] + offset[0], src.box[1] + offset[1], src.box[2], src.box[3])
        try:
            new = self.add_instance(src.image_id, box=box, box_source=BOX_DRAWN if box else BOX_DRAWN)
        except UserInputError:  # shifted off the image: keep the box where it was
            new = self.add_instance(src.image_id, box=src.box, box_source=BOX_DRAWN)
        self.copy_instance_points(src.id, new.id, offset=offset)
        return self.instance(new.id)

    @staticmethod
    def _row(s, instance_id: int):  # noqa: ANN001, ANN205 - a Session, a Row
        row = s.execute(select(INSTANCE_T).where(INSTANCE_T.c.id == int(instance_id))).first()
        if row is None:
            raise UserInputError(f"no instance with id {instance_id} in this project")
        return row
