"""Schema 1: the project as labeler wrote it before Alembic (the baseline).

Projects are created from the model (``Base.metadata.create_all``) and stamped with the newest
revision, and a schema-1 file found without an ``alembic_version`` table is stamped ``0001`` and
upgraded from there, so on a real project this ``upgrade`` never runs. It runs on an empty
scratch database, where it writes schema 1 exactly as labeler 1 did (tables, constraints,
indexes: tests/store/test_schema_allow_list.py compares it with a real schema-1 file): the
migrations from here to any revision then build that revision's schema, which
:mod:`labeler.store.schema_reference` compares a project file with before using it. Frozen
history: never edit it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _binary_text() -> sa.types.TypeEngine:
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", _binary_text(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "keypoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _binary_text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "image",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", _binary_text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("orientation", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("review_status", sa.String(), nullable=False),
        sa.Column("missing", sa.Boolean(), nullable=False),
        sa.Column("added_at", sa.Float(), nullable=False),
        sa.Column("pred_signature", sa.String(), nullable=True),
        sa.Column("pred_method", sa.String(), nullable=True),
        sa.Column("pred_model", sa.String(), nullable=True),
        sa.Column("pred_preset", sa.String(), nullable=True),
        sa.Column("pred_flipped", sa.Boolean(), nullable=True),
        sa.Column("predicted_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("width > 0 AND height > 0", name="image_size_positive"),
        sa.CheckConstraint(
            "review_status IN ('unlabeled', 'partial', 'predicted', 'reviewed')", name="image_review_status"
        ),
        sa.UniqueConstraint("path"),
    )
    op.create_index("ix_image_review_status_path", "image", ["review_status", "path"])
    op.create_index("ix_image_path_review_status", "image", ["path", "review_status"])
    op.create_table(
        "skeleton_edge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("a_id", sa.Integer(), nullable=False),
        sa.Column("b_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("a_id <> b_id", name="edge_distinct"),
        sa.ForeignKeyConstraint(["a_id"], ["keypoint.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["b_id"], ["keypoint.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_skeleton_edge_a_id", "skeleton_edge", ["a_id"])
    op.create_index("ix_skeleton_edge_b_id", "skeleton_edge", ["b_id"])
    op.create_table(
        "flip_pair",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("left_id", sa.Integer(), nullable=False),
        sa.Column("right_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("left_id <> right_id", name="flip_distinct"),
        sa.UniqueConstraint("left_id"),
        sa.ForeignKeyConstraint(["left_id"], ["keypoint.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("right_id"),
        sa.ForeignKeyConstraint(["right_id"], ["keypoint.id"], ondelete="CASCADE"),
    )
    op.create_table(
        "point",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("keypoint_id", sa.Integer(), nullable=False),
        sa.Column("x", sa.Float(), nullable=True),
        sa.Column("y", sa.Float(), nullable=True),
        sa.Column("visibility", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("method", sa.String(), nullable=True),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("pred_x", sa.Float(), nullable=True),
        sa.Column("pred_y", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("image_id", "keypoint_id"),
        sa.CheckConstraint("visibility IN (0, 1, 2)", name="point_visibility"),
        sa.CheckConstraint("status IN ('manual', 'predicted', 'accepted', 'corrected')", name="point_status"),
        sa.CheckConstraint(
            "(visibility = 0 AND x IS NULL AND y IS NULL) OR (visibility > 0 AND x IS NOT NULL AND y IS NOT NULL)",
            name="point_absent_has_no_position",
        ),
        sa.ForeignKeyConstraint(["image_id"], ["image.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["keypoint_id"], ["keypoint.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_point_keypoint", "point", ["keypoint_id"])
    op.create_index(
        "ix_point_predicted",
        "point",
        ["image_id", "confidence"],
        sqlite_where=sa.text("status = 'predicted'"),
        postgresql_where=sa.text("status = 'predicted'"),
    )
    op.create_table(
        "cache",
        sa.Column("key", _binary_text(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        sa.ForeignKeyConstraint(["image_id"], ["image.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_cache_image_id", "cache", ["image_id"])


def downgrade() -> None:
    raise NotImplementedError("labeler never downgrades a project")
