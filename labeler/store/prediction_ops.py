"""Engine output: predicted points, what they were predicted with, and the review queue.

The rule "a prediction never overwrites a person's point" is enforced by SQL: the upsert's
UPDATE branch only fires ``WHERE point.status = 'predicted'``, so it holds even when the GUI
and a CLI run write to the same file from two processes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from labeler.errors import UserInputError
from labeler.store.dialects import InJsonArray
from labeler.store.dialects import insert as dialect_insert
from labeler.store.core import (
    IMAGE_T,
    POINT_T,
    ProjectCore,
    in_ids,
    keypoint_ids,
    now,
    point_records,
    recompute_review,
    select_points,
    unknown_keypoint,
)
from labeler.store.models import ClaimRow, ImageRow, KeypointRow, PointRow
from labeler.store.point_ops import instance_of
from labeler.store.records import (
    ABSENT,
    CONFIRMED_STATUSES,
    PREDICTED,
    REVIEWED,
    VISIBLE,
    PointRecord,
    PredictionReport,
    QueueImage,
    ReferenceImage,
)

#: ``{name: (x, y, confidence)}`` for one image; confidence may be None.
PredictedPoints = Mapping[str, tuple[float, float, float | None]]
#: ``(image_id, points)``, ``(image_id, points, flipped)`` or ``(image_id, points, flipped,
#: instance_id)``; without an instance (or None) the points go to the image's first instance.
PredictionItem = (
    tuple[int, PredictedPoints] | tuple[int, PredictedPoints, bool] | tuple[int, PredictedPoints, bool, int | None]
)

_PRED_COLUMNS = (
    "x", "y", "visibility", "status", "confidence", "method", "model", "pred_x", "pred_y", "updated_at", "annotator",
)


def upsert_predictions_stmt(s: Session):  # noqa: ANN201 - a SQLAlchemy Insert
    ins = dialect_insert(s, POINT_T)
    return ins.on_conflict_do_update(
        index_elements=[POINT_T.c.instance_id, POINT_T.c.keypoint_id],
        set_={**{c: ins.excluded[c] for c in _PRED_COLUMNS}, "version": POINT_T.c.version + 1},
        where=POINT_T.c.status == PREDICTED,
    )


def _clip(v: float, hi: int) -> tuple[float, bool]:
    c = min(max(v, 0.0), float(hi))
    return c, c != v


class PredictionOps(ProjectCore):
    def write_predictions(
        self,
        items: Iterable[PredictionItem],
        *,
        method: str,
        model: str | None,
        preset: str = "",
        signature: str = "",
        flipped: bool = False,
        partial: bool = False,
    ) -> PredictionReport:
        """Store one batch of engine output atomically.

        Confirmed rows are never touched; older predicted rows of the same keypoints are
        replaced. Unless ``partial``, each image's batch is its complete new prediction: its
        older predicted rows for keypoints not in the batch are removed. Each image records
        ``signature``/``method``/``model``/``preset``/flipped (per item or the ``flipped``
        default) so a re-run can skip finished images and recognise stale ones. Positions
        slightly outside the image are clipped onto its border.
        """
        wanted: list[tuple[int, PredictedPoints, bool, int | None]] = []
        for item in items:
            inst = item[3] if len(item) == 4 else None  # type: ignore[misc]
            wanted.append(
                (int(item[0]), item[1], bool(item[2]) if len(item) >= 3 else flipped, None if inst is None else int(inst))  # type: ignore[misc]
            )
        ids = list(dict.fromkeys(b[0] for b in wanted))
        t = now()
        with self._write() as s, s.begin():
            kp = keypoint_ids(s)
            sizes = {
                i: (w, h)
                for i, w, h in s.execute(
                    select(ImageRow.id, ImageRow.width, ImageRow.height).where(in_ids(ImageRow.id, ids))
                )
            }
            unknown = [i for i in ids if i not in sizes]
            if unknown:
                raise UserInputError(f"no image with id {unknown[0]} in this project")
            batch = [(i, p, f, instance_of(s, i, inst)) for i, p, f, inst in wanted]
            targets = [b[3] for b in batch]
            if len(set(targets)) != len(targets):
                raise UserInputError("a prediction batch lists the same image (or instance) twice")
            confirmed = set(
                s.execute(
                    select(PointRow.instance_id, PointRow.keypoint_id).where(
                        in_ids(PointRow.image_id, ids), PointRow.status.in_(CONFIRMED_STATUSES)
                    )
                )
            )
            rows: list[dict[str, Any]] = []
            keep: list[dict[str, Any]] = []
            kept_confirmed = clipped = 0
            for image_id, points, _, inst in batch:
                w, h = sizes[image_id]
                kps: list[int] = []
                for name, value in points.items():
                    if name not in kp:
                        raise unknown_keypoint(name, kp)
                    x, y, conf = (float(value[0]), float(value[1]), value[2])
                    if not (math.isfinite(x) and math.isfinite(y)):
                        raise UserInputError(f"prediction for {name!r} on image {image_id} is not a finite position")
                    x, cx = _clip(x, w)
                    y, cy = _clip(y, h)
                    clipped += cx or cy
                    conf_f = None if conf is None or not math.isfinite(float(conf)) else float(conf)
                    kps.append(kp[name])
                    if (inst, kp[name]) in confirmed:
                        kept_confirmed += 1
                        continue
                    rows.append(
                        {
                            "image_id": image_id,
                            "instance_id": inst,
                            "keypoint_id": kp[name],
                            "x": x,
                            "y": y,
                            "visibility": VISIBLE,
                            "status": PREDICTED,
                            "confidence": conf_f,
                            "method": method,
                            "model": model,
                            "pred_x": None,
                            "pred_y": None,
                            "created_at": t,
                            "updated_at": t,
                            "annotator": None,
                        }
                    )
                keep.append({"inst": inst, "kps": json.dumps(kps)})
            if rows:
                s.execute(upsert_predictions_stmt(s), rows)
            removed = 0
            if not partial and keep:
                stmt = delete(POINT_T).where(
                    POINT_T.c.instance_id == bindparam("inst"),
                    POINT_T.c.status == PREDICTED,
                    InJsonArray(POINT_T.c.keypoint_id, bindparam("kps"), negate=True),
                )
                removed = s.execute(stmt, keep).rowcount or 0
            for flag in (False, True):
                chosen = sorted({i for i, _, f, _ in batch if f == flag})
                if chosen:
                    s.execute(
                        update(IMAGE_T)
                        .where(in_ids(IMAGE_T.c.id, chosen))
                        .values(
                            pred_signature=signature,
                            pred_method=method,
                            pred_model=model,
                            pred_preset=preset,
                            pred_flipped=flag,
                            predicted_at=t,
                        )
                    )
            recompute_review(s, ids)
        return PredictionReport(
            images=len(ids), written=len(rows), kept_confirmed=kept_confirmed, removed=removed, clipped=clipped
        )

    def clear_predictions(self, image_ids: Iterable[int] | None = None) -> int:
        """Delete predicted rows (all images, or these) and their run records; returns how many."""
        with self._write() as s, s.begin():
            stmt = delete(POINT_T).where(POINT_T.c.status == PREDICTED)
            reset = update(IMAGE_T).values(
                pred_signature=None, pred_method=None, pred_model=None, pred_preset=None, pred_flipped=None, predicted_at=None
            )
            ids = None if image_ids is None else list(image_ids)
            if ids is not None:
                stmt = stmt.where(in_ids(POINT_T.c.image_id, ids))
                reset = reset.where(in_ids(IMAGE_T.c.id, ids))
            n = s.execute(stmt).rowcount
            s.execute(reset)
            recompute_review(s, ids)
            return int(n)

    def prediction_signatures(self) -> dict[int, str | None]:
        """image id -> signature of its latest prediction run (None: never predicted)."""
        with self._read() as s:
            return dict(s.execute(select(ImageRow.id, ImageRow.pred_signature)).all())

    def images_to_predict(self, signature: str) -> list[int]:
        """Images (ordered by path) not yet predicted with ``signature``: never, or with another
        (stale) one. Reviewed and missing images are left out."""
        with self._read() as s:
            return list(
                s.execute(
                    select(ImageRow.id)
                    .where(
                        ImageRow.review_status != REVIEWED,
                        ImageRow.missing.is_(False),
                        (ImageRow.pred_signature.is_(None)) | (ImageRow.pred_signature != signature),
                    )
                    .order_by(ImageRow.path)
                ).scalars()
            )

    def references(self, *, image_ids: Iterable[int] | None = None, include_absent: bool = False) -> list[ReferenceImage]:
        """Images with confirmed points and those points, ordered by path.

        Absent points are left out unless ``include_absent`` (they then have NaN coordinates).
        """
        stmt = (
            select(
                PointRow.image_id, ImageRow.path, ImageRow.width, ImageRow.height,
                KeypointRow.name, PointRow.x, PointRow.y, PointRow.visibility,
            )
            .join(ImageRow, PointRow.image_id == ImageRow.id)
            .join(KeypointRow, PointRow.keypoint_id == KeypointRow.id)
            .where(PointRow.status.in_(CONFIRMED_STATUSES))
            .order_by(ImageRow.path, KeypointRow.position)
        )
        if not include_absent:
            stmt = stmt.where(PointRow.visibility != ABSENT)
        if image_ids is not None:
            stmt = stmt.where(in_ids(PointRow.image_id, image_ids))
        grouped: dict[int, tuple[str, int, int, dict[str, tuple[float, float, int]]]] = {}
        with self._read() as s:
            for image_id, path, w, h, name, x, y, v in s.execute(stmt):
                entry = grouped.setdefault(image_id, (path, w, h, {}))
                nan = float("nan")
                entry[3][name] = (nan if x is None else x, nan if y is None else y, v)
        return [ReferenceImage(i, p, w, h, pts) for i, (p, w, h, pts) in grouped.items()]

    def review_queue(self, limit: int | None = None, *, skip_claimed: bool = False) -> list[QueueImage]:
        """Images with predictions awaiting review, least confident first (by their minimum
        confidence; images with a prediction of unknown confidence come first). Missing and
        flagged images are left out (FLAGS_OUT_OF_REVIEW), and with ``skip_claimed`` those someone else is labelling."""
        n_all = func.count()
        n_conf = func.count(PointRow.confidence)
        lowest = func.min(PointRow.confidence)
        stmt = (
            select(ImageRow.id, ImageRow.path, lowest, n_all, n_conf)
            .join(PointRow, PointRow.image_id == ImageRow.id)
            .where(PointRow.status == PREDICTED, ImageRow.missing.is_(False), ImageRow.flag.is_(None))
            .group_by(ImageRow.id)
            .order_by((n_conf < n_all).desc(), lowest.nulls_first(), ImageRow.path)
        )
        if skip_claimed:
            others = select(ClaimRow.image_id).where(
                ClaimRow.image_id == ImageRow.id, ClaimRow.user != self.user, ClaimRow.expires_at > now()
            )
            stmt = stmt.where(~others.exists())
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as s:
            return [
                QueueImage(i, p, None if nc < na else lo, na)
                for i, p, lo, na, nc in s.execute(stmt)
            ]

    def review_points(self, limit: int | None = None, *, image_ids: Sequence[int] | None = None) -> list[PointRecord]:
        """Predicted points awaiting review, least confident first (unknown confidence first);
        those of flagged images are left out (FLAGS_OUT_OF_REVIEW)."""
        stmt = (
            select_points()
            .join(ImageRow, PointRow.image_id == ImageRow.id)
            .where(PointRow.status == PREDICTED, ImageRow.flag.is_(None))
            .order_by(PointRow.confidence.is_not(None), PointRow.confidence, ImageRow.path, KeypointRow.position)
        )
        if image_ids is not None:
            stmt = stmt.where(in_ids(PointRow.image_id, image_ids))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as s:
            return point_records(s.execute(stmt))
