"""The project file's tables (SQLAlchemy 2.0 typed ORM).

Rows reference keypoints by id, so renaming a keypoint touches one row. Every constraint that
protects the data (visibility range, absent-means-no-position, cascades) lives in SQL, so it
also holds for writes from another process.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from labeler.store.records import BOX_SOURCES, IMAGE_FLAGS, POINT_STATUSES, REVIEW_STATUSES, UNLABELED


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


#: Text compared byte-wise on both backends (SQLite's BINARY = PostgreSQL's "C"), so paths sort
#: the same everywhere, whatever the server's locale.
BinaryText = String().with_variant(String(collation="C"), "postgresql")


class Base(DeclarativeBase):
    pass


class MetaRow(Base):
    """Key/value facts about the file: format marker, schema version, images root, name."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(BinaryText, primary_key=True)
    value: Mapped[str] = mapped_column(String)


class KeypointRow(Base):
    __tablename__ = "keypoint"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(BinaryText, unique=True)
    position: Mapped[int] = mapped_column(Integer)  # display/COCO order; not unique so reorders are one UPDATE


class EdgeRow(Base):
    __tablename__ = "skeleton_edge"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    a_id: Mapped[int] = mapped_column(ForeignKey("keypoint.id", ondelete="CASCADE"), index=True)
    b_id: Mapped[int] = mapped_column(ForeignKey("keypoint.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    __table_args__ = (CheckConstraint("a_id <> b_id", name="edge_distinct"),)


class FlipPairRow(Base):
    __tablename__ = "flip_pair"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    left_id: Mapped[int] = mapped_column(ForeignKey("keypoint.id", ondelete="CASCADE"), unique=True)
    right_id: Mapped[int] = mapped_column(ForeignKey("keypoint.id", ondelete="CASCADE"), unique=True)
    __table_args__ = (CheckConstraint("left_id <> right_id", name="flip_distinct"),)


class ImageRow(Base):
    __tablename__ = "image"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(BinaryText, unique=True)  # POSIX, relative to the images root
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    orientation: Mapped[int] = mapped_column(Integer, default=1)
    sha256: Mapped[str] = mapped_column(String, default="")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    review_status: Mapped[str] = mapped_column(String, default=UNLABELED)
    missing: Mapped[bool] = mapped_column(Boolean, default=False)
    added_at: Mapped[float] = mapped_column(Float)
    pred_signature: Mapped[str | None] = mapped_column(String)
    pred_method: Mapped[str | None] = mapped_column(String)
    pred_model: Mapped[str | None] = mapped_column(String)
    pred_preset: Mapped[str | None] = mapped_column(String)
    pred_flipped: Mapped[bool | None] = mapped_column(Boolean)
    predicted_at: Mapped[float | None] = mapped_column(Float)
    # schema 4: a replaced file is noticed (size + mtime, then the sha256)
    mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    changed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    flag: Mapped[str | None] = mapped_column(String)  # skip / no_object / later (schema 5)
    __table_args__ = (
        CheckConstraint("width > 0 AND height > 0", name="image_size_positive"),
        CheckConstraint(_in("review_status", REVIEW_STATUSES), name="image_review_status"),
        CheckConstraint(f"flag IS NULL OR {_in('flag', IMAGE_FLAGS)}", name="image_flag"),
        # Both cover (id, path, review_status): listing 100k images, filtered or not, never
        # touches the table itself.
        Index("ix_image_review_status_path", "review_status", "path"),
        Index("ix_image_path_review_status", "path", "review_status"),
    )


class InstanceRow(Base):
    """One object of an image (schema 6): owns its points, has an optional box and name, and
    its own review status (the image's is derived from its instances').

    The box is all four numbers or none, with a positive size and a source; "first instance"
    (what the single-object calls use) is the image's instance with the lowest id.
    """

    __tablename__ = "instance"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String)
    box_x: Mapped[float | None] = mapped_column(Float)
    box_y: Mapped[float | None] = mapped_column(Float)
    box_w: Mapped[float | None] = mapped_column(Float)
    box_h: Mapped[float | None] = mapped_column(Float)
    box_source: Mapped[str | None] = mapped_column(String)
    review_status: Mapped[str] = mapped_column(String, default=UNLABELED)
    created_at: Mapped[float] = mapped_column(Float)
    __table_args__ = (
        CheckConstraint(
            "(box_x IS NULL AND box_y IS NULL AND box_w IS NULL AND box_h IS NULL AND box_source IS NULL)"
            " OR (box_x IS NOT NULL AND box_y IS NOT NULL AND box_w > 0 AND box_h > 0 AND box_source IS NOT NULL"
            f" AND {_in('box_source', BOX_SOURCES)})",
            name="instance_box",
        ),
        CheckConstraint(_in("review_status", REVIEW_STATUSES), name="instance_review_status"),
        # the target of point's (instance_id, image_id) key: a point's image is its instance's
        UniqueConstraint("id", "image_id", name="instance_id_image"),
        Index("ix_instance_image", "image_id", "id"),
    )


class PointRow(Base):
    __tablename__ = "point"
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    keypoint_id: Mapped[int] = mapped_column(ForeignKey("keypoint.id", ondelete="CASCADE"))
    x: Mapped[float | None] = mapped_column(Float)
    y: Mapped[float | None] = mapped_column(Float)
    visibility: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String)
    confidence: Mapped[float | None] = mapped_column(Float)
    method: Mapped[str | None] = mapped_column(String)
    model: Mapped[str | None] = mapped_column(String)
    pred_x: Mapped[float | None] = mapped_column(Float)
    pred_y: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    #: +1 on every write of the row: an edit made from an older version is refused.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    #: Who last confirmed the point (None for predictions).
    annotator: Mapped[str | None] = mapped_column(String)
    #: The object the point belongs to (schema 6; last, so older column positions hold).
    instance_id: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        PrimaryKeyConstraint("instance_id", "keypoint_id", name="point_pkey"),
        ForeignKeyConstraint(
            ["instance_id", "image_id"], ["instance.id", "instance.image_id"], ondelete="CASCADE",
            name="point_instance",
        ),
        Index("ix_point_image", "image_id", "keypoint_id"),
        CheckConstraint("visibility IN (0, 1, 2)", name="point_visibility"),
        CheckConstraint(_in("status", POINT_STATUSES), name="point_status"),
        CheckConstraint(
            "(visibility = 0 AND x IS NULL AND y IS NULL)"
            " OR (visibility > 0 AND x IS NOT NULL AND y IS NOT NULL)",
            name="point_absent_has_no_position",
        ),
        Index("ix_point_keypoint", "keypoint_id"),
        # Only the predictions (the review queue). A plain index on status would tempt SQLite's
        # planner away from the primary key for "this image's predicted rows".
        Index("ix_point_predicted", "image_id", "confidence", sqlite_where=text("status = 'predicted'"),
              postgresql_where=text("status = 'predicted'")),
    )


class CacheRow(Base):
    """Engine reference states and other derived bytes; safe to delete at any time."""

    __tablename__ = "cache"
    key: Mapped[str] = mapped_column(BinaryText, primary_key=True)
    image_id: Mapped[int | None] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float)


class ClaimRow(Base):
    """An image being labelled by someone, until ``expires_at`` (renewed while they work)."""

    __tablename__ = "claim"
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), primary_key=True)
    user: Mapped[str] = mapped_column(String)
    claimed_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
