"""Deciding about predictions: accept or reject them in bulk (by confidence), per image or per
point, under one rule shared by the app and the CLI.

The rule (records.FLAGS_OUT_OF_REVIEW): a flagged image's predictions are never accepted or
rejected, and a confirmed point is never touched (every statement here only changes rows whose
status is ``predicted``). Bulk operations pass over flagged images silently; a person who names a
flagged image (``labeler review --image``, Space/C/R in the app) is told why by
:meth:`ReviewOps.check_reviewable`. Accepting is :meth:`~labeler.store.Project.accept_predictions`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, select, update

from labeler.errors import UserInputError
from labeler.store.core import (
    POINT_T,
    ProjectCore,
    in_ids,
    keypoint_ids,
    now,
    recompute_review,
    unflagged_images,
    unknown_keypoint,
)
from labeler.store.models import ImageRow, PointRow
from labeler.store.records import ABSENT, CORRECTED, FLAGS_OUT_OF_REVIEW, PREDICTED

#: How a flag reads in a sentence.
FLAG_WORDS = {"skip": "skipped", "no_object": "no object", "later": "for later"}


class ReviewOps(ProjectCore):
    def check_reviewable(self, image_ids: int | Iterable[int]) -> None:
        """Refuse (one UserInputError naming the image and its flag) when one of these images is
        flagged: its predictions are out of review until the flag is cleared."""
        ids = [int(image_ids)] if isinstance(image_ids, int) else [int(i) for i in image_ids]
        if not ids:
            return
        with self._read() as s:
            row = s.execute(
                select(ImageRow.path, ImageRow.flag)
                .where(in_ids(ImageRow.id, ids), ImageRow.flag.in_(FLAGS_OUT_OF_REVIEW))
                .order_by(ImageRow.path)
                .limit(1)
            ).first()
        if row is not None:
            path, flag = row
            raise UserInputError(
                f"{path} is flagged {FLAG_WORDS.get(flag, flag)}: its predictions are out of review; clear the flag "
                f"first (`labeler flag PROJECT {path} --clear`, or the same flag key again in the app)"
            )

    def reject_predictions(
        self,
        image_ids: Iterable[int] | None = None,
        *,
        names: Iterable[str] | None = None,
        below: float | None = None,
        absent: bool = False,
    ) -> int:
        """Reject predicted points; returns how many.

        A rejected prediction goes back to unlabelled (its row is deleted), or with ``absent``
        becomes a person's decision that the keypoint is not in the image (a confirmed absent
        row that keeps the engine's position in pred_x/pred_y). ``image_ids`` None means every
        unflagged image, ``names`` None every keypoint; with ``below`` only predictions under
        it (unknown confidence counts as below). Flagged images and confirmed points are never
        touched.
        """
        t = now()
        with self._write() as s, s.begin():
            where = [POINT_T.c.status == PREDICTED, POINT_T.c.image_id.in_(unflagged_images())]
            if image_ids is not None:
                where.append(in_ids(POINT_T.c.image_id, list(image_ids)))
            if names is not None:
                ids = keypoint_ids(s)
                wanted = list(names)
                for n in wanted:
                    if n not in ids:
                        raise unknown_keypoint(n, ids)
                where.append(in_ids(POINT_T.c.keypoint_id, [ids[n] for n in wanted]))
            if below is not None:
                where.append(POINT_T.c.confidence.is_(None) | (POINT_T.c.confidence < float(below)))
            if absent:
                stmt = (
                    update(POINT_T)
                    .where(*where)
                    .values(
                        status=CORRECTED, visibility=ABSENT, pred_x=POINT_T.c.x, pred_y=POINT_T.c.y, x=None, y=None,
                        updated_at=t, version=POINT_T.c.version + 1, annotator=self.user,
                    )
                    .returning(POINT_T.c.image_id)
                )
            else:
                stmt = delete(POINT_T).where(*where).returning(POINT_T.c.image_id)
            touched = s.execute(stmt).scalars().all()
            recompute_review(s, set(touched))
            return len(touched)

    def prediction_models(self, *, reviewable: bool = True) -> dict[str | None, int]:
        """model -> how many predictions awaiting review it made (only those of unflagged images
        unless ``reviewable`` is False); None: predictions without a model (classical)."""
        stmt = select(PointRow.model, func.count()).where(PointRow.status == PREDICTED).group_by(PointRow.model)
        if reviewable:
            stmt = stmt.where(PointRow.image_id.in_(unflagged_images()))
        with self._read() as s:
            return {m: int(n) for m, n in s.execute(stmt)}
