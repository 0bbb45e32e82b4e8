"""A key -> bytes cache inside the project (engine reference states), plus status counts."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from labeler.store.dialects import insert as dialect_insert

from labeler.store.core import ProjectCore, image_row, now
from labeler.store.models import CacheRow, ImageRow, PointRow
from labeler.store.records import IMAGE_FLAGS, POINT_STATUSES, REVIEW_STATUSES, StatusCounts


class CacheOps(ProjectCore):
    """Keys are free-form strings; put related entries under a common prefix, e.g.
    ``"attention/<model>/<preset>/<image id>/<keypoint>/<x>,<y>"``, so they can be dropped together.
    An entry tied to an image (``image_id``) disappears with the image."""

    def cache_get(self, key: str, *, max_bytes: int | None = None) -> bytes | None:
        """The entry's bytes, or None. With ``max_bytes``, a larger entry raises ValueError
        before it is read (an entry in a project from someone else may be of any size)."""
        with self._read() as s:
            if max_bytes is not None:
                size = s.execute(select(func.length(CacheRow.value)).where(CacheRow.key == key)).scalar()
                if size is not None and size > max_bytes:
                    raise ValueError(f"cache entry {key!r} holds {size} bytes, larger than {max_bytes}")
            return s.execute(select(CacheRow.value).where(CacheRow.key == key)).scalar()

    def cache_put(self, key: str, value: bytes, *, image_id: int | None = None) -> None:
        with self._write() as s, s.begin():
            if image_id is not None:
                image_row(s, image_id)
            ins = dialect_insert(s, CacheRow.__table__).values(key=key, value=bytes(value), image_id=image_id, created_at=now())
            s.execute(
                ins.on_conflict_do_update(
                    index_elements=[CacheRow.key],
                    set_={"value": ins.excluded.value, "image_id": ins.excluded.image_id, "created_at": ins.excluded.created_at},
                )
            )

    def cache_keys(self, prefix: str = "") -> list[str]:
        with self._read() as s:
            stmt = select(CacheRow.key).order_by(CacheRow.key)
            if prefix:
                stmt = stmt.where(func.substr(CacheRow.key, 1, len(prefix)) == prefix)
            return list(s.execute(stmt).scalars())

    def cache_delete(self, *, prefix: str | None = None, image_id: int | None = None) -> int:
        """Delete entries whose key starts with ``prefix`` and/or that belong to ``image_id``
        (both None: everything). Returns how many."""
        with self._write() as s, s.begin():
            stmt = delete(CacheRow)
            if prefix:
                stmt = stmt.where(func.substr(CacheRow.key, 1, len(prefix)) == prefix)
            if image_id is not None:
                stmt = stmt.where(CacheRow.image_id == image_id)
            return int(s.execute(stmt).rowcount)

    def clear_cache(self) -> int:
        """Delete every cache entry (reference states, engine memos): all of it is derived and
        prepared again when needed. Returns how many entries went."""
        return self.cache_delete()

    def counts_by_user(self) -> dict[str | None, dict[str, int]]:
        """Points per annotator and status (None: predictions and points confirmed before
        annotators were recorded), annotators by name."""
        out: dict[str | None, dict[str, int]] = {}
        with self._read() as s:
            rows = s.execute(
                select(PointRow.annotator, PointRow.status, func.count()).group_by(PointRow.annotator, PointRow.status)
            ).all()
        for who, status, n in sorted(rows, key=lambda r: (r[0] is None, r[0] or "", r[1])):
            out.setdefault(who, {k: 0 for k in POINT_STATUSES})[status] = int(n)
        return out

    def counts(self) -> StatusCounts:
        """Images by review status (unflagged ones) and by flag, and points by status and visibility (for ``labeler status``)."""
        with self._read() as s:
            by_review = dict(
                s.execute(
                    select(ImageRow.review_status, func.count()).where(ImageRow.flag.is_(None)).group_by(ImageRow.review_status)
                ).all()
            )
            by_flag = dict(
                s.execute(select(ImageRow.flag, func.count()).where(ImageRow.flag.is_not(None)).group_by(ImageRow.flag)).all()
            )
            missing = s.execute(select(func.count()).select_from(ImageRow).where(ImageRow.missing.is_(True))).scalar_one()
            by_status = dict(s.execute(select(PointRow.status, func.count()).group_by(PointRow.status)).all())
            by_vis = dict(s.execute(select(PointRow.visibility, func.count()).group_by(PointRow.visibility)).all())
        return StatusCounts(
            images=sum(by_review.values()) + sum(by_flag.values()),
            images_by_status={k: int(by_review.get(k, 0)) for k in REVIEW_STATUSES},
            missing_images=int(missing),
            points=sum(by_status.values()),
            points_by_status={k: int(by_status.get(k, 0)) for k in POINT_STATUSES},
            points_by_visibility={v: int(by_vis.get(v, 0)) for v in (0, 1, 2)},
            images_by_flag={f: int(by_flag.get(f, 0)) for f in IMAGE_FLAGS},
        )
