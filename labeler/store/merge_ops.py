"""Merging labels from another file (COCO import) in one transaction: all of it or nothing."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from sqlalchemy import select, update

from labeler.errors import UserInputError
from labeler.store.core import (
    POINT_COLUMNS,
    ProjectCore,
    check_xy,
    in_first_instance,
    in_ids,
    in_values,
    keypoint_ids,
    now,
    recompute_review,
    unknown_keypoint,
)
from labeler.store.image_ops import insert_probed
from labeler.store.models import ImageRow, KeypointRow, PointRow
from labeler.store.point_ops import upsert_rows, with_instances
from labeler.store.prediction_ops import upsert_predictions_stmt
from labeler.store.records import (
    ABSENT,
    IMAGE_FLAGS,
    POINT_STATUSES,
    PREDICTED,
    ImportedPoint,
    MergeConflictItem,
    MergeReport,
    PointRecord,
    Schema,
)
from labeler.store.scanning import ProbedImage
from labeler.store.schema_ops import write_category, write_new_schema

OnConflict = Literal["error", "keep", "replace"]


class MergeConflict(UserInputError):
    """Incoming confirmed points differ from confirmed points already in the project."""

    def __init__(self, message: str, conflicts: Sequence[MergeConflictItem]) -> None:
        super().__init__(message)
        self.conflicts = tuple(conflicts)


def _fmt(x: float | None, y: float | None, v: int) -> str:
    return "absent" if v == ABSENT else f"({x:g}, {y:g}){' occluded' if v == 1 else ''}"


def conflict_message(conflicts: Sequence[MergeConflictItem], limit: int = 10) -> str:
    lines = [
        f"  {c.path} {c.name}: project {_fmt(c.project.x, c.project.y, c.project.visibility)} [{c.project.status}],"
        f" file {_fmt(c.incoming.x, c.incoming.y, c.incoming.visibility)} [{c.incoming.status}]"
        for c in conflicts[:limit]
    ]
    more = f"\n  ... and {len(conflicts) - limit} more" if len(conflicts) > limit else ""
    return "\n".join(lines) + more


class MergeOps(ProjectCore):
    def merge_points(
        self,
        labels: Mapping[str, Mapping[str, ImportedPoint]],
        *,
        new_images: Sequence[ProbedImage] = (),
        schema: Schema | None = None,
        on_conflict: OnConflict = "error",
        category: str | None = None,
        flags: Mapping[str, str] | None = None,
    ) -> MergeReport:
        """Merge ``labels`` (image path relative to the root -> name -> point) atomically.

        ``new_images`` are registered and ``schema`` is created (when the project has none) in
        the same transaction. Incoming predictions never replace confirmed points; incoming
        confirmed points replace predictions; where both sides are confirmed and differ,
        ``on_conflict`` decides: "error" (raise :class:`MergeConflict`, write nothing),
        "keep" the project's, or "replace" with the file's. Every point is checked (names,
        visibility, bounds) before anything is written. ``category`` (the file's category name) is
        recorded when the schema is created from the file (exports then keep it). ``flags`` (image
        path -> flag) are set on images that have no flag yet.
        """
        if on_conflict not in ("error", "keep", "replace"):
            raise UserInputError(f"on_conflict must be error, keep or replace, not {on_conflict!r}")
        t = now()
        with self._write() as s, s.begin():
            created = False
            if schema is not None and not keypoint_ids(s):
                write_new_schema(s, schema.keypoints, schema.skeleton, schema.flip_pairs)
                created = True
                if category:
                    write_category(s, category)
            added = insert_probed(s, new_images)
            kp = keypoint_ids(s)
            images = {
                p: (i, w, h)
                for i, p, w, h in s.execute(
                    select(ImageRow.id, ImageRow.path, ImageRow.width, ImageRow.height).where(
                        in_values(ImageRow.path, list(labels))
                    )
                )
            }
            unknown = [p for p in labels if p not in images]
            if unknown:
                raise UserInputError(f"no image {unknown[0]!r} in this project")
            existing = {
                (row[1], row[0]): PointRecord(*row[1:])
                for row in s.execute(
                    select(PointRow.keypoint_id, *POINT_COLUMNS)
                    .join_from(PointRow, KeypointRow, PointRow.keypoint_id == KeypointRow.id)
                    .where(in_ids(PointRow.image_id, [v[0] for v in images.values()]), in_first_instance(PointRow.image_id))
                )
            }
            confirmed_rows: list[dict[str, Any]] = []
            predicted_rows: list[dict[str, Any]] = []
            conflicts: list[MergeConflictItem] = []
            unchanged = kept_confirmed = 0
            for path, points in labels.items():
                image_id, w, h = images[path]
                for name, pt in points.items():
                    if name not in kp:
                        raise unknown_keypoint(name, kp)
                    where = f"{path} {name}"
                    if pt.status not in POINT_STATUSES:
                        raise UserInputError(f"{where}: unknown point status {pt.status!r}")
                    if pt.visibility not in (0, 1, 2):
                        raise UserInputError(f"{where}: visibility must be 0, 1 or 2, not {pt.visibility!r}")
                    if pt.visibility == ABSENT:
                        if pt.status == PREDICTED:
                            raise UserInputError(f"{where}: a prediction must have a position")
                        x = y = None
                    else:
                        x, y = check_xy(where, pt.x, pt.y, w, h)  # type: ignore[arg-type]
                    conf = pt.confidence if pt.confidence is not None and math.isfinite(pt.confidence) else None
                    row = {
                        "image_id": image_id,
                        "keypoint_id": kp[name],
                        "x": x,
                        "y": y,
                        "visibility": pt.visibility,
                        "status": pt.status,
                        "confidence": conf,
                        "method": None,
                        "model": None,
                        "pred_x": None,
                        "pred_y": None,
                        "created_at": t,
                        "updated_at": t,
                        "annotator": None if pt.status == PREDICTED else self.user,
                    }
                    old = existing.get((image_id, kp[name]))
                    if pt.status == PREDICTED:
                        if old is not None and old.confirmed:
                            kept_confirmed += 1
                        elif old is not None and (old.x, old.y, old.confidence) == (x, y, conf):
                            unchanged += 1
                        else:
                            predicted_rows.append(row)
                        continue
                    if old is None or not old.confirmed:
                        confirmed_rows.append(row)
                    elif (old.x, old.y, old.visibility, old.status) == (x, y, pt.visibility, pt.status):
                        unchanged += 1
                    else:
                        conflicts.append(MergeConflictItem(path, name, old, pt))
                        if on_conflict == "replace":
                            row["created_at"] = old.created_at
                            confirmed_rows.append(row)
            if conflicts and on_conflict == "error":
                raise MergeConflict(
                    f"{len(conflicts)} points differ from confirmed points already in the project; "
                    f"nothing was imported:\n{conflict_message(conflicts)}",
                    conflicts,
                )
            upsert_rows(s, confirmed_rows)
            if predicted_rows:
                s.execute(upsert_predictions_stmt(s), with_instances(s, predicted_rows))
            recompute_review(s, [v[0] for v in images.values()])
            flags_set = self._merge_flags(s, flags or {})
        return MergeReport(
            images_added=tuple(added),
            written=len(confirmed_rows),
            predictions_written=len(predicted_rows),
            unchanged=unchanged,
            kept_confirmed=kept_confirmed,
            conflicts=tuple(conflicts),
            schema_created=created,
            flags_set=flags_set,
        )

    @staticmethod
    def _merge_flags(s, flags: Mapping[str, str]) -> int:  # noqa: ANN001 - a Session
        """Set the file's image flags on images without one; returns how many were set."""
        for path, flag in flags.items():
            if flag not in IMAGE_FLAGS:
                raise UserInputError(f"{path}: unknown image flag {flag!r}; choose from {', '.join(IMAGE_FLAGS)}")
        by_flag: dict[str, list[str]] = {}
        for path, flag in flags.items():
            by_flag.setdefault(flag, []).append(path)
        n = 0
        for flag, paths in by_flag.items():
            n += s.execute(
                update(ImageRow.__table__)
                .where(in_values(ImageRow.__table__.c.path, paths), ImageRow.__table__.c.flag.is_(None))
                .values(flag=flag)
            ).rowcount or 0
        return int(n)
