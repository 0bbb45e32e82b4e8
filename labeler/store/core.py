"""What every part of :class:`~labeler.store.project.Project` shares: sessions and lookups.

Each public method opens one short transaction and commits it before returning, so every edit
is on disk the moment the call returns (there is no "save").
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select, update
from sqlalchemy.orm import Session

from labeler.errors import UserInputError
from labeler.store.database import ChangePoller, Sessions
from labeler.store.dialects import InJsonArray
from labeler.store.models import ImageRow, InstanceRow, KeypointRow, PointRow
from labeler.store.records import (
    PARTIAL,
    PREDICTED,
    REVIEW_PREDICTED,
    REVIEWED,
    UNLABELED,
    ImageRecord,
    PointRecord,
)

IMAGE_T = ImageRow.__table__
POINT_T = PointRow.__table__
INSTANCE_T = InstanceRow.__table__


def now() -> float:
    return time.time()


def in_values(column: ColumnElement, values: Iterable[int | str]) -> ColumnElement[bool]:
    """``column IN (values)`` with one bound parameter however many (a JSON array).

    SQLite caps the number of bound parameters; a JSON array has no such limit.
    """
    return InJsonArray(column, literal(json.dumps(list(values))))


def in_ids(column: ColumnElement[int], ids: Iterable[int]) -> ColumnElement[bool]:
    return in_values(column, [int(i) for i in ids])


def check_xy(name: str, x: float, y: float, width: int, height: int) -> tuple[float, float]:
    try:
        fx, fy = float(x), float(y)
    except (TypeError, ValueError):
        raise UserInputError(f"{name}: coordinates must be numbers, got {x!r}, {y!r}") from None
    if not (math.isfinite(fx) and math.isfinite(fy)):
        raise UserInputError(f"{name}: coordinates must be finite numbers, got {x!r}, {y!r}")
    if not (0.0 <= fx <= width and 0.0 <= fy <= height):
        raise UserInputError(
            f"{name}: ({fx:g}, {fy:g}) is outside the image "
            f"(x must be within 0..{width}, y within 0..{height})"
        )
    return fx, fy


def image_record(row: ImageRow) -> ImageRecord:
    return ImageRecord(
        id=row.id,
        path=row.path,
        width=row.width,
        height=row.height,
        orientation=row.orientation,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        review_status=row.review_status,
        missing=bool(row.missing),
        added_at=row.added_at,
        pred_signature=row.pred_signature,
        pred_method=row.pred_method,
        pred_model=row.pred_model,
        pred_preset=row.pred_preset,
        pred_flipped=None if row.pred_flipped is None else bool(row.pred_flipped),
        predicted_at=row.predicted_at,
        mtime_ns=row.mtime_ns,
        changed=bool(row.changed),
        flag=row.flag,
    )


def point_record(row: PointRow, name: str) -> PointRecord:
    return PointRecord(
        image_id=row.image_id,
        name=name,
        x=row.x,
        y=row.y,
        visibility=row.visibility,
        status=row.status,
        confidence=row.confidence,
        method=row.method,
        model=row.model,
        pred_x=row.pred_x,
        pred_y=row.pred_y,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        annotator=row.annotator,
        instance_id=row.instance_id,
    )


#: The columns of a :class:`PointRecord`, in its field order (``name`` from the keypoint table):
#: ``select(*POINT_COLUMNS)`` builds records straight from tuples. Loading ORM objects instead
#: costs ~20 us a row (7 s for 340k predictions); plain tuples cost ~2 us.
POINT_COLUMNS = (
    POINT_T.c.image_id,
    KeypointRow.__table__.c.name,
    POINT_T.c.x,
    POINT_T.c.y,
    POINT_T.c.visibility,
    POINT_T.c.status,
    POINT_T.c.confidence,
    POINT_T.c.method,
    POINT_T.c.model,
    POINT_T.c.pred_x,
    POINT_T.c.pred_y,
    POINT_T.c.created_at,
    POINT_T.c.updated_at,
    POINT_T.c.version,
    POINT_T.c.annotator,
    POINT_T.c.instance_id,
)


def select_points() -> Select:
    """``SELECT`` of :data:`POINT_COLUMNS`, keypoint table joined; add where/order_by."""
    return select(*POINT_COLUMNS).join_from(PointRow, KeypointRow, PointRow.keypoint_id == KeypointRow.id)


def point_records(rows: Iterable[Sequence[object]]) -> list[PointRecord]:
    return [PointRecord(*r) for r in rows]  # type: ignore[arg-type]


def keypoint_ids(s: Session) -> dict[str, int]:
    """name -> id, in schema order."""
    return dict(s.execute(select(KeypointRow.name, KeypointRow.id).order_by(KeypointRow.position)).all())


def unknown_keypoint(name: str, known: Iterable[str]) -> UserInputError:
    names = ", ".join(known)
    if not names:
        return UserInputError(
            f"unknown keypoint {name!r}: the project has no keypoints yet; add them with "
            "`labeler schema PROJECT --add NAME,NAME` (or in the app: Edit > Edit keypoints)"
        )
    return UserInputError(f"unknown keypoint {name!r}; the schema has: {names}")


def keypoint_id(s: Session, name: str) -> int:
    found = s.execute(select(KeypointRow.id).where(KeypointRow.name == name)).scalar()
    if found is None:
        raise unknown_keypoint(name, keypoint_ids(s))
    return found


def image_row(s: Session, image_id: int) -> ImageRow:
    row = s.get(ImageRow, int(image_id))
    if row is None:
        raise UserInputError(f"no image with id {image_id} in this project")
    return row


def unflagged_images():  # noqa: ANN201 - a SQLAlchemy Select
    """The ids of images without a flag: the only ones whose predictions are reviewed
    (records.FLAGS_OUT_OF_REVIEW)."""
    return select(IMAGE_T.c.id).where(IMAGE_T.c.flag.is_(None))


def first_instance_of(image_id: ColumnElement[int] | int) -> ColumnElement[int]:
    """The image's first instance (lowest id): the one the single-object calls read and write."""
    return select(func.min(INSTANCE_T.c.id)).where(INSTANCE_T.c.image_id == image_id).scalar_subquery()


def in_first_instance(image_id: ColumnElement[int] | int) -> ColumnElement[bool]:
    """Point rows of the image's first instance only."""
    return POINT_T.c.instance_id == first_instance_of(image_id)


def first_instances(s: Session, image_ids: Iterable[int], *, create: bool = True) -> dict[int, int]:
    """image id -> its first instance's id, creating an instance (no box, no name) for images
    that have none when ``create`` (caller holds the write lock)."""
    wanted = sorted({int(i) for i in image_ids})
    if not wanted:
        return {}
    stmt = (
        select(INSTANCE_T.c.image_id, func.min(INSTANCE_T.c.id))
        .where(in_ids(INSTANCE_T.c.image_id, wanted))
        .group_by(INSTANCE_T.c.image_id)
    )
    found = {int(a): int(b) for a, b in s.execute(stmt)}
    missing = [i for i in wanted if i not in found]
    if missing and create:
        t = now()
        s.execute(INSTANCE_T.insert(), [{"image_id": i, "review_status": UNLABELED, "created_at": t} for i in missing])
        found.update({int(a): int(b) for a, b in s.execute(stmt)})
    return found


def _status_of(rows_of, k: int):  # noqa: ANN001, ANN202 - SQLAlchemy clauses
    n_rows = func.count()
    n_predicted = func.sum(case((POINT_T.c.status == PREDICTED, 1), else_=0))
    return (
        select(
            case(
                (n_predicted > 0, REVIEW_PREDICTED),
                (and_(literal(k) > 0, n_rows >= k), REVIEWED),
                (n_rows > 0, PARTIAL),
                else_=UNLABELED,
            )
        )
        .where(rows_of)
        .scalar_subquery()
    )


def recompute_review(s: Session, image_ids: Iterable[int] | None = None) -> None:
    """Set each instance's ``review_status`` from its point rows, then each image's from its
    instances (all images when ``image_ids`` is None).

    An instance is reviewed when every keypoint has a confirmed row, predicted while one
    prediction waits, partial with some rows. The image: predicted if any instance is, reviewed
    when it has instances and all are, partial when any has rows; an image of one instance
    reads exactly as before schema 6. Two set-based statements over the indexed rows.
    """
    k = s.execute(select(func.count()).select_from(KeypointRow)).scalar_one()
    inst = update(INSTANCE_T).values(review_status=_status_of(POINT_T.c.instance_id == INSTANCE_T.c.id, k))
    per_instance = select(INSTANCE_T.c.review_status).where(INSTANCE_T.c.image_id == IMAGE_T.c.id)
    any_of = lambda st: per_instance.where(INSTANCE_T.c.review_status == st).exists()  # noqa: E731
    image_status = case(
        (any_of(REVIEW_PREDICTED), REVIEW_PREDICTED),
        (
            and_(any_of(REVIEWED), ~per_instance.where(INSTANCE_T.c.review_status != REVIEWED).exists()),
            REVIEWED,
        ),
        (per_instance.where(INSTANCE_T.c.review_status != UNLABELED).exists(), PARTIAL),
        else_=UNLABELED,
    )
    img = update(IMAGE_T).values(review_status=image_status)
    if image_ids is not None:
        ids = list(image_ids)
        if not ids:
            return
        inst = inst.where(in_ids(INSTANCE_T.c.image_id, ids))
        img = img.where(in_ids(IMAGE_T.c.id, ids))
    s.execute(inst)
    s.execute(img)


class ProjectCore:
    """State shared by the Project mixins (set up by Project.open)."""

    path: Path
    #: Who this program's confirmed edits are recorded as (``--user``, default the OS login).
    user: str
    _sessions: Sessions
    _poller: ChangePoller | None
    _root: Path

    def _write(self) -> Session:
        """A session whose transaction starts with BEGIN IMMEDIATE (use as ``with ... .begin()``)."""
        return self._sessions.write()

    def _read(self) -> Session:
        return self._sessions.read()
