"""Alembic revisions: a straight chain, and real schema-1 files upgraded on open."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.config import Config

from labeler.store import SCHEMA_VERSION, Project
from labeler.store.migrations import FOLDER, current_revision, revision_id
from labeler.store.models import Base
from schema_history import back_to_schema_6

V1 = Path(__file__).parent / "data" / "v1"


def _schema_diff(project: Project) -> list:
    with project._engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


def test_revisions_are_one_straight_line_ending_at_schema_version():
    cfg = Config()
    cfg.set_main_option("script_location", str(FOLDER))
    script = ScriptDirectory.from_config(cfg)
    chain = [r.revision for r in script.walk_revisions()][::-1]
    assert chain == [revision_id(n) for n in range(1, SCHEMA_VERSION + 1)]
    assert script.get_heads() == [revision_id(SCHEMA_VERSION)]


def test_a_new_project_is_stamped_at_the_newest_revision_and_matches_the_model(project):
    with project._engine.connect() as conn:
        assert current_revision(conn) == revision_id(SCHEMA_VERSION)
    assert project.schema_version == SCHEMA_VERSION
    assert _schema_diff(project) == []


@pytest.fixture
def v1_file(tmp_path):
    shutil.copytree(V1, tmp_path / "v1")
    return tmp_path / "v1" / "v1.labeler"


def test_a_real_schema_1_file_is_upgraded_on_open_and_keeps_everything(v1_file):
    conn = sqlite3.connect(v1_file)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'alembic_version'").fetchone() is None
    before = conn.execute("SELECT * FROM point ORDER BY image_id, keypoint_id").fetchall()
    conn.close()
    with Project.open(v1_file) as project:
        assert project.schema_version == SCHEMA_VERSION
        assert project.meta()["schema_version"] == str(SCHEMA_VERSION)
        assert _schema_diff(project) == []
        with project._engine.connect() as c:
            assert current_revision(c) == revision_id(SCHEMA_VERSION)
        assert project.name == "made by labeler schema 1"
        assert project.images_root_found
        counts = project.counts()
        assert (counts.images, counts.points) == (3, 5)
        a = project.image_by_path("a.jpg").id
        nose = project.points(a)["nose"]
        assert (nose.x, nose.y, nose.status) == (10.5, 12.25, "manual")
        b = project.points(project.image_by_path("sub/b.png").id)
        assert (b["nose"].status, b["nose"].pred_x, b["nose"].confidence) == ("corrected", 5.0, 0.75)
        assert (b["left_eye"].status, b["left_eye"].confidence) == ("predicted", None)
        assert project.cache_get("ref/x") == b"\x00\x01\x02"
        project.set_point(a, "right_eye", 3.0, 4.0)  # and it takes new edits
    conn = sqlite3.connect(v1_file)
    after = conn.execute("SELECT * FROM point ORDER BY image_id, keypoint_id").fetchall()
    conn.close()
    assert [r[:13] for r in after if r[:2] != (1, 3)][: len(before)] == [r[:13] for r in before]
    with Project.open(v1_file) as again:  # already upgraded: opens as it is
        assert again.schema_version == SCHEMA_VERSION


def _guards(conn) -> set[tuple[str, str, str]]:  # noqa: ANN001
    """The project's triggers, policies, functions and row-security switches (PostgreSQL)."""
    from sqlalchemy import text

    rows = conn.execute(text(
        "SELECT 'trigger', c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal "
        "UNION ALL SELECT 'policy', c.relname, p.polname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid "
        "WHERE c.relnamespace = current_schema()::regnamespace "
        "UNION ALL SELECT 'function', '', proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace "
        "UNION ALL SELECT 'row security', relname, '' FROM pg_class "
        "WHERE relnamespace = current_schema()::regnamespace AND relrowsecurity"
    )).all()
    return {tuple(r) for r in rows}


def test_a_database_project_is_upgraded_on_open_too(tmp_path, pg_url):
    """PostgreSQL runs the same revisions: a schema-2 project (no claims yet) is upgraded."""
    from sqlalchemy import text

    from labeler.store.dialects.postgresql_catalog import install_legacy_notify
    from labeler.store.testing import make_project

    local, _ = make_project(tmp_path)
    local.close()
    from labeler.store.copying import copy_project

    copy_project(tmp_path / "test.labeler", pg_url)
    with Project.open(pg_url) as p, p._engine.begin() as conn:  # back to schema 2
        new_guards = _guards(conn)
        back_to_schema_6(conn)
        conn.execute(text("DROP TABLE claim"))
        conn.execute(text("ALTER TABLE image DROP COLUMN mtime_ns, DROP COLUMN changed, DROP COLUMN flag"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0002'"))
        conn.execute(text("UPDATE meta SET value = '2' WHERE key = 'schema_version'"))
        from labeler.store.dialects.postgresql_team import FUNCTIONS

        for f in FUNCTIONS:  # before schema 6: none of the guard functions
            conn.execute(text(f"DROP FUNCTION {f}() CASCADE"))
        install_legacy_notify(conn, pg_url.rsplit("schema=", 1)[1])  # what `labeler init` wrote then
        for policy in ("labeler_read", "labeler_add", "labeler_change", "labeler_remove"):
            conn.execute(text(f"DROP POLICY IF EXISTS {policy} ON point"))
        conn.execute(text("ALTER TABLE point DISABLE ROW LEVEL SECURITY"))
    with Project.open(pg_url) as p:
        assert p.schema_version == SCHEMA_VERSION and _schema_diff(p) == []
        with p._engine.connect() as conn:  # schema 6: the server's guards, as a new project has them
            assert _guards(conn) == new_guards and ("policy", "point", "labeler_change") in new_guards
        img = p.image_by_path("plain/a.jpg").id
        p.has_changed()
        p.claim_image(img)
        import time

        deadline = time.time() + 5
        while not p.has_changed():  # the new table notifies like the others
            assert time.time() < deadline
            time.sleep(0.02)
