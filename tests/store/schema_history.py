"""Older schemas rebuilt from a current project, for the upgrade tests (both backends)."""

from __future__ import annotations

#: ``point`` as schemas 1 to 6 had it: one row per (image, keypoint), no instances.
SCHEMA_5_POINT = """CREATE TABLE point (
    image_id INTEGER NOT NULL REFERENCES image (id) ON DELETE CASCADE,
    keypoint_id INTEGER NOT NULL REFERENCES keypoint (id) ON DELETE CASCADE,
    x FLOAT, y FLOAT, visibility INTEGER NOT NULL, status VARCHAR NOT NULL, confidence FLOAT,
    method VARCHAR, model VARCHAR, pred_x FLOAT, pred_y FLOAT, created_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL, version INTEGER DEFAULT 1 NOT NULL, annotator VARCHAR,
    PRIMARY KEY (image_id, keypoint_id),
    CONSTRAINT point_visibility CHECK (visibility IN (0, 1, 2)),
    CONSTRAINT point_status CHECK (status IN ('manual', 'predicted', 'accepted', 'corrected')),
    CONSTRAINT point_absent_has_no_position CHECK ((visibility = 0 AND x IS NULL AND y IS NULL)
        OR (visibility > 0 AND x IS NOT NULL AND y IS NOT NULL)))"""
OLD_COLUMNS = (
    "image_id, keypoint_id, x, y, visibility, status, confidence, method, model, pred_x, pred_y, "
    "created_at, updated_at, version, annotator"
)


def back_to_schema_6(conn) -> None:
    """Turn a project of this schema into a schema-6 one (points straight on images), both backends."""
    from sqlalchemy import text

    grants, owner = [], None
    if conn.dialect.name == "postgresql":  # a real schema-6 point table had the team's grants
        grants = conn.execute(text(
            "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
            "WHERE table_schema = current_schema() AND table_name = 'point' AND grantee <> current_user"
        )).all()
        owner = conn.execute(text(
            "SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'point'"
        )).scalar()
    conn.execute(text(f"CREATE TABLE point_keep AS SELECT {OLD_COLUMNS} FROM point"))
    conn.execute(text("DROP TABLE point"))
    conn.execute(text("DROP TABLE instance"))
    conn.execute(text(SCHEMA_5_POINT))
    conn.execute(text("CREATE INDEX ix_point_keypoint ON point (keypoint_id)"))
    conn.execute(text("CREATE INDEX ix_point_predicted ON point (image_id, confidence) WHERE status = 'predicted'"))
    conn.execute(text(f"INSERT INTO point ({OLD_COLUMNS}) SELECT {OLD_COLUMNS} FROM point_keep"))
    conn.execute(text("DROP TABLE point_keep"))
    if conn.dialect.name == "postgresql":  # the server's guards on the new table, as schema 6 had them
        from labeler.store.dialects.postgresql_team import install_guards

        install_guards(conn)
    for grantee, privilege in grants:
        conn.execute(text(f'GRANT {privilege} ON point TO "{grantee}"'))
    if owner is not None:
        conn.execute(text(f'ALTER TABLE point OWNER TO "{owner}"'))
    conn.execute(text("UPDATE alembic_version SET version_num = '0006'"))
    conn.execute(text("UPDATE meta SET value = '6' WHERE key = 'schema_version'"))
