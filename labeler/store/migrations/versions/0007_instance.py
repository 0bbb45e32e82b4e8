"""Schema 7: several objects per image. An ``instance`` belongs to an image and owns its points;
it has an optional box (x, y, w, h and where it came from), an optional name and its own review
status. Every image that has points gets one instance holding all of them, so a project of one
object per image reads exactly as before.

``point``'s primary key becomes (instance_id, keypoint_id), which SQLite can only do by building
the table anew. That is safe here, unlike for ``image`` or ``keypoint`` (versions/README.md):
no table references ``point``, so dropping it cascades into nothing. The rows go through a plain
copy table; ``migrate()`` then compares every table's row count with the count before. On
PostgreSQL the new table gets back the old one's owner and grants (the instance table gets the
same), and the server's guards (notify triggers, point guard, row security) are installed again
exactly as ``labeler init`` makes them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BOX_SOURCES = ("drawn", "imported", "detected", "derived")
_REVIEW = ("unlabeled", "partial", "predicted", "reviewed")
_STATUSES = ("manual", "predicted", "accepted", "corrected")
_OLD_COLUMNS = (
    "image_id, keypoint_id, x, y, visibility, status, confidence, method, model, pred_x, pred_y, "
    "created_at, updated_at, version, annotator"
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _create_instance() -> None:
    op.create_table(
        "instance",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("image_id", sa.Integer(), sa.ForeignKey("image.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("box_x", sa.Float(), nullable=True),
        sa.Column("box_y", sa.Float(), nullable=True),
        sa.Column("box_w", sa.Float(), nullable=True),
        sa.Column("box_h", sa.Float(), nullable=True),
        sa.Column("box_source", sa.String(), nullable=True),
        sa.Column("review_status", sa.String(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.CheckConstraint(
            "(box_x IS NULL AND box_y IS NULL AND box_w IS NULL AND box_h IS NULL AND box_source IS NULL)"
            " OR (box_x IS NOT NULL AND box_y IS NOT NULL AND box_w > 0 AND box_h > 0 AND box_source IS NOT NULL"
            f" AND {_in('box_source', _BOX_SOURCES)})",
            name="instance_box",
        ),
        sa.CheckConstraint(_in("review_status", _REVIEW), name="instance_review_status"),
        sa.UniqueConstraint("id", "image_id", name="instance_id_image"),
    )
    op.create_index("ix_instance_image", "instance", ["image_id", "id"])


def _create_point() -> None:
    op.create_table(
        "point",
        sa.Column("image_id", sa.Integer(), sa.ForeignKey("image.id", ondelete="CASCADE"), nullable=False),
        sa.Column("keypoint_id", sa.Integer(), sa.ForeignKey("keypoint.id", ondelete="CASCADE"), nullable=False),
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
        sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.Column("annotator", sa.String(), nullable=True),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("instance_id", "keypoint_id", name="point_pkey"),
        sa.ForeignKeyConstraint(
            ["instance_id", "image_id"], ["instance.id", "instance.image_id"], ondelete="CASCADE",
            name="point_instance",
        ),
        sa.CheckConstraint("visibility IN (0, 1, 2)", name="point_visibility"),
        sa.CheckConstraint(_in("status", _STATUSES), name="point_status"),
        sa.CheckConstraint(
            "(visibility = 0 AND x IS NULL AND y IS NULL)"
            " OR (visibility > 0 AND x IS NOT NULL AND y IS NOT NULL)",
            name="point_absent_has_no_position",
        ),
    )
    op.create_index("ix_point_image", "point", ["image_id", "keypoint_id"])
    op.create_index("ix_point_keypoint", "point", ["keypoint_id"])
    op.create_index(
        "ix_point_predicted", "point", ["image_id", "confidence"],
        sqlite_where=sa.text("status = 'predicted'"), postgresql_where=sa.text("status = 'predicted'"),
    )


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    _create_instance()
    # one instance per image that has points, reviewed as its image was
    op.execute(
        "INSERT INTO instance (image_id, review_status, created_at) "
        "SELECT image.id, image.review_status, MIN(point.created_at) FROM image JOIN point ON point.image_id = image.id "
        "GROUP BY image.id, image.review_status ORDER BY image.id"
    )
    grants: list[tuple[str, str]] = []
    owner = None
    if pg:
        grants = [
            (g, p)
            for g, p in bind.execute(
                sa.text(
                    "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
                    "WHERE table_schema = current_schema() AND table_name = 'point' AND grantee <> current_user"
                )
            )
        ]
        owner = bind.execute(
            sa.text("SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'point'")
        ).scalar()
    op.execute(f"CREATE TABLE point_v5 AS SELECT {_OLD_COLUMNS} FROM point")
    op.execute("DROP TABLE point")
    _create_point()
    op.execute(
        f"INSERT INTO point ({_OLD_COLUMNS}, instance_id) "
        f"SELECT {', '.join('p.' + c.strip() for c in _OLD_COLUMNS.split(','))}, i.id "
        "FROM point_v5 p JOIN instance i ON i.image_id = p.image_id"
    )
    op.execute("DROP TABLE point_v5")
    if pg:
        from labeler.store.dialects.postgresql_team import install_guards

        install_guards(bind)
        for grantee, privilege in grants:  # who could change points may change instances too
            who = '"' + grantee.replace('"', '""') + '"'
            for table in ("point", "instance"):
                op.execute(f"GRANT {privilege} ON {table} TO {who}")
            if privilege == "INSERT":  # a new instance takes its id from the table's sequence
                op.execute(f"GRANT USAGE ON SEQUENCE instance_id_seq TO {who}")
        if owner is not None:
            who = '"' + owner.replace('"', '""') + '"'
            for table in ("point", "instance"):
                op.execute(f"ALTER TABLE {table} OWNER TO {who}")


def downgrade() -> None:
    raise NotImplementedError("labeler never downgrades a project")
