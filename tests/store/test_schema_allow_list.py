"""A project file's schema must be labeler's exactly: generated mutations of a real file are all
refused, and an untouched file of every revision opens.

One base file is built per module; each case copies it and changes it with plain sqlite3, as a
hostile sender would (rebuilding a table the way SQLite documents, or editing sqlite_master).
"""

from __future__ import annotations

import itertools
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from labeler.errors import ProjectError
from labeler.store import Project
from labeler.store.dialects.sqlite_catalog import read_schema
from labeler.store.migrations import SCHEMA_VERSION, config, revision_id, stamp_file_header
from labeler.store.schema_reference import difference, known_revisions, sqlite_references
from labeler.store.testing import make_project

pytestmark = pytest.mark.sqlite_only

V1 = Path(__file__).parent / "data" / "v1" / "v1.labeler"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("base")
    project, _ = make_project(folder)
    path = Path(project.path)
    first, second = project.list_images()[:2]
    name = project.schema().keypoints[0]
    project.set_point(first.id, name, 3.0, 4.0)
    project.set_point(second.id, name, 5.0, 6.0)
    project.close()
    return path


def _rebuild(conn: sqlite3.Connection, table: str, edit) -> None:  # noqa: ANN001
    """Recreate ``table`` from its edited SQL, keeping rows and indexes (SQLite's 12 steps)."""
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
    indexes = [r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,))]
    new_sql = edit(sql)
    assert new_sql != sql, "the mutation changed nothing"
    old_cols = [r[1] for r in conn.execute(f"PRAGMA table_xinfo({table})") if r[6] == 0]
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("PRAGMA legacy_alter_table = ON")
    conn.execute(new_sql.replace(f"CREATE TABLE {table} ", "CREATE TABLE _mutated ", 1))
    new_cols = {r[1] for r in conn.execute("PRAGMA table_xinfo(_mutated)") if r[6] == 0}
    cols = ", ".join(c for c in old_cols if c in new_cols)
    conn.execute(f"INSERT INTO _mutated ({cols}) SELECT {cols} FROM {table}")
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE _mutated RENAME TO {table}")
    for index in indexes:
        conn.execute(index)


def _rebuilt(table: str, old: str, new: str):  # noqa: ANN202
    def apply(conn: sqlite3.Connection) -> None:
        _rebuild(conn, table, lambda sql: sql.replace(old, new, 1) if old in sql else sql)
    return apply


def _sql(*statements: str):  # noqa: ANN202
    def apply(conn: sqlite3.Connection) -> None:
        for s in statements:
            conn.execute(s)
    return apply


def _writable(*statements: str):  # noqa: ANN202
    return _sql("PRAGMA writable_schema = ON", *statements)


ACTIONS = ("CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION")
RESOLUTIONS = ("ROLLBACK", "ABORT", "FAIL", "IGNORE", "REPLACE")
TABLES = ("point", "image", "keypoint", "meta", "cache", "claim", "skeleton_edge", "flip_pair")


def _mutations() -> dict[str, object]:
    m: dict[str, object] = {}
    body = "BEGIN UPDATE point SET status = 'predicted'; END"
    for i, (timing, event, table) in enumerate(
        itertools.product(("BEFORE", "AFTER", ""), ("INSERT", "UPDATE", "DELETE", "UPDATE OF x"), TABLES)
    ):
        if event == "UPDATE OF x" and table != "point":
            continue
        spelling = ("TRIGGER", "trigger", "TrIgGeR", "tRIGGER")[i % 4]
        m[f"trigger {timing or '-'} {event} {table} {spelling}"] = _sql(f"CREATE {spelling} t{i} {timing} {event} ON {table} {body}")
    for spelling in ("TRIGGER", "Trigger", "trigger ", "trig", ""):
        m[f"trigger typed {spelling!r}"] = _sql(
            f"CREATE TRIGGER demote AFTER UPDATE ON point {body}", "PRAGMA writable_schema = ON",
            f"UPDATE sqlite_master SET type = '{spelling}' WHERE name = 'demote'",
        )
    m["temp-named trigger"] = _sql(f"CREATE TRIGGER main.x AFTER INSERT ON image {body}")
    for on, action in itertools.product(("DELETE", "UPDATE"), ACTIONS):
        m[f"new column references cache ON {on} {action}"] = _sql(
            f"ALTER TABLE point ADD COLUMN k VARCHAR REFERENCES cache(key) ON {on} {action}"
        )
        if (on, action) != ("DELETE", "CASCADE"):
            m[f"point fk ON {on} {action}"] = _rebuilt(
                "point", "REFERENCES image (id) ON DELETE CASCADE", f"REFERENCES image (id) ON {on} {action}"
                if on == "DELETE" else f"REFERENCES image (id) ON DELETE CASCADE ON UPDATE {action}"
            )
    m["fk deferrable"] = _rebuilt("point", "REFERENCES image (id) ON DELETE CASCADE", "REFERENCES image (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED")
    m["fk to another table"] = _rebuilt("cache", "REFERENCES image (id)", "REFERENCES keypoint (id)")
    for res in RESOLUTIONS:
        m[f"pk ON CONFLICT {res}"] = _rebuilt("point", "PRIMARY KEY (instance_id, keypoint_id)", f"PRIMARY KEY (instance_id, keypoint_id) ON CONFLICT {res}")
        m[f"not null ON CONFLICT {res}"] = _rebuilt("point", "status VARCHAR NOT NULL", f"status VARCHAR NOT NULL ON CONFLICT {res}")
        m[f"unique ON CONFLICT {res}"] = _rebuilt("image", "UNIQUE (path)", f"UNIQUE (path) ON CONFLICT {res}")
        m[f"added unique ON CONFLICT {res}"] = _rebuilt("point", "PRIMARY KEY (instance_id, keypoint_id)", f"PRIMARY KEY (instance_id, keypoint_id), UNIQUE (keypoint_id, image_id) ON CONFLICT {res}")
        m[f"column unique ON CONFLICT {res}"] = _rebuilt("keypoint", "name VARCHAR NOT NULL", f"name VARCHAR NOT NULL UNIQUE ON CONFLICT {res}")
    m["default on status"] = _rebuilt("point", "status VARCHAR NOT NULL", "status VARCHAR NOT NULL DEFAULT 'accepted'")
    m["default changed"] = _rebuilt("point", "DEFAULT 1", "DEFAULT 0")
    m["default added by alter"] = _sql("ALTER TABLE image ADD COLUMN note VARCHAR DEFAULT 'x'")
    m["check added"] = _rebuilt("point", "PRIMARY KEY (instance_id, keypoint_id)", "PRIMARY KEY (instance_id, keypoint_id), CHECK (x IS NULL OR x > -1e9)")
    m["check dropped"] = _rebuilt("point", "CONSTRAINT point_visibility CHECK (visibility IN (0, 1, 2)), ", "")
    m["check loosened"] = _rebuilt("point", "visibility IN (0, 1, 2)", "visibility IN (0, 1, 2, 3)")
    m["generated virtual"] = _sql("ALTER TABLE point ADD COLUMN g FLOAT AS (x + 1)")
    m["generated stored"] = _rebuilt("point", "annotator VARCHAR", "annotator VARCHAR, g FLOAT GENERATED ALWAYS AS (x * 2) STORED")
    for coll in ("NOCASE", "RTRIM"):
        m[f"collation {coll}"] = _rebuilt("image", "path VARCHAR NOT NULL", f"path VARCHAR NOT NULL COLLATE {coll}")
    m["expression index"] = _sql("CREATE INDEX ix_e ON point (x + y)")
    m["partial index"] = _sql("CREATE INDEX ix_p ON point (x) WHERE y > 0")
    m["unique index"] = _sql("CREATE UNIQUE INDEX ix_u ON point (keypoint_id, image_id)")
    m["labeler's index redefined"] = _sql("DROP INDEX ix_point_predicted", "CREATE INDEX ix_point_predicted ON point (image_id, confidence) WHERE status = 'accepted'")
    m["labeler's index dropped"] = _sql("DROP INDEX ix_point_keypoint")
    m["index moved to another table"] = _sql("DROP INDEX ix_cache_image_id", "CREATE INDEX ix_cache_image_id ON claim (image_id)")
    m["view"] = _sql("CREATE VIEW v AS SELECT * FROM point")
    m["view typed TABLE"] = _writable("CREATE TABLE placeholder (a)", "UPDATE sqlite_master SET type = 'view', sql = 'CREATE VIEW placeholder AS SELECT 1 AS a' WHERE name = 'placeholder'")
    for module in ("fts5(a)", "rtree(id, x0, x1)", "fts4(a)"):
        m[f"virtual table {module}"] = _sql(f"CREATE VIRTUAL TABLE vt USING {module}")
    m["extra table"] = _sql("CREATE TABLE extra (a INTEGER)")
    m["extra table named like labeler's"] = _sql("CREATE TABLE point2 (a INTEGER)")
    m["table dropped"] = _sql("DROP TABLE claim")
    for old, new in (("x FLOAT", "x TEXT"), ("visibility INTEGER", "visibility ANY"), ("created_at FLOAT", "created_at BLOB"), ("status VARCHAR", "status VARCHAR(3)")):
        m[f"type {old} -> {new}"] = _rebuilt("point", old, new)
    m["without rowid"] = _rebuilt("point", "\n)", "\n) WITHOUT ROWID")
    m["strict"] = lambda conn: _rebuild(conn, "claim", lambda sql: sql.replace("VARCHAR", "TEXT").replace("FLOAT", "REAL") + " STRICT")
    m["column renamed"] = _sql("ALTER TABLE point RENAME COLUMN annotator TO who")
    m["comment smuggles nothing but text differs"] = _rebuilt("point", "annotator VARCHAR", "annotator VARCHAR /* hi */ NOT NULL DEFAULT ''")
    m["user_version"] = _sql("PRAGMA user_version = 7")
    m["application_id"] = _sql("PRAGMA application_id = 0")
    m["unknown alembic revision"] = _sql("UPDATE alembic_version SET version_num = 'zzzz'")
    m["newer alembic revision"] = _sql("UPDATE alembic_version SET version_num = '9999'")
    m["two alembic revisions"] = _sql("INSERT INTO alembic_version VALUES ('0001')")
    m["no alembic revision row"] = _sql("DELETE FROM alembic_version")
    return m


MUTATIONS = _mutations()


def test_many_mutations_are_generated():
    assert len(MUTATIONS) > 100


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_every_mutation_of_a_real_project_file_is_refused(base, tmp_path, name):
    path = tmp_path / base.name
    shutil.copy(base, path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        MUTATIONS[name](conn)
    finally:
        conn.close()
    with pytest.raises(ProjectError) as caught:
        Project.open(path).close()
    message = str(caught.value)
    assert "\n" not in message, message
    # SQLite itself refuses a schema it cannot parse; everything it accepts is compared
    assert "refusing to open this project" in message or "malformed database schema" in message, message


def test_the_untouched_base_file_opens(base, tmp_path):
    shutil.copy(base, tmp_path / base.name)
    with Project.open(tmp_path / base.name) as project:
        assert project.schema_version == SCHEMA_VERSION


def test_the_messages_name_what_differs(base, tmp_path):
    cases = {
        "trigger typed 'TRIGGER'": "unknown trigger 'demote'",
        "new column references cache ON DELETE CASCADE": "table 'point' is not defined as labeler defines it",
        "unique ON CONFLICT REPLACE": "ON CONFLICT REPLACE",
        "view": "unknown view 'v'",
        "unknown alembic revision": "revision (zzzz)",
        "user_version": "PRAGMA user_version is 7",
    }
    for name, expected in cases.items():
        path = tmp_path / f"{len(name)}-{abs(hash(name))}.labeler"
        shutil.copy(base, path)
        conn = sqlite3.connect(path, isolation_level=None)
        MUTATIONS[name](conn)
        conn.close()
        with pytest.raises(ProjectError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            Project.open(path)


def test_migrations_and_a_new_project_write_the_same_schema():
    migrated, created = sqlite_references(revision_id(SCHEMA_VERSION))
    assert difference(migrated, created) is None


def test_the_baseline_migration_writes_a_real_schema_1_file(tmp_path):
    shutil.copy(V1, tmp_path / "v1.labeler")
    engine = create_engine(f"sqlite:///{tmp_path / 'v1.labeler'}")
    with engine.connect() as conn:
        objects, header = read_schema(conn)
    engine.dispose()
    (reference, ref_header), = sqlite_references("0001")
    reference = Counter({o: n for o, n in reference.items() if o.table != "alembic_version"})
    assert difference((Counter(objects), header), (reference, ref_header)) is None


@pytest.mark.parametrize("revision", known_revisions())
def test_an_untouched_file_of_every_revision_opens(base, tmp_path, revision):
    """A file written by the migrations at ``revision`` (the rows of a real project's meta) opens
    and is upgraded."""
    path = tmp_path / "old.labeler"
    src = sqlite3.connect(base)
    meta = src.execute("SELECT key, value FROM meta").fetchall()
    src.close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        from alembic import command

        command.upgrade(config(conn), revision)
        stamp_file_header(conn)
        for key, value in meta:
            conn.execute(text("INSERT INTO meta VALUES (:k, :v)"), {"k": key, "v": str(int(revision)) if key == "schema_version" else value})
    engine.dispose()
    with Project.open(path) as project:
        assert project.schema_version == SCHEMA_VERSION


def test_an_untouched_schema_1_file_opens(tmp_path):
    shutil.copytree(V1.parent, tmp_path / "v1")
    with Project.open(tmp_path / "v1" / "v1.labeler") as project:
        assert project.schema_version == SCHEMA_VERSION


def test_copy_salvages_the_rows_of_a_refused_file_never_its_schema(base, tmp_path):
    """README: `labeler copy` of a refused file gives a project with its rows and labeler's schema."""
    from labeler.store.copying import copy_project

    path = tmp_path / base.name
    shutil.copy(base, path)
    conn = sqlite3.connect(path, isolation_level=None)
    MUTATIONS["new column references cache ON DELETE CASCADE"](conn)
    _sql("CREATE TRIGGER demote AFTER INSERT ON point BEGIN UPDATE point SET status = 'predicted'; END")(conn)
    points = conn.execute("SELECT image_id, keypoint_id, status, x, y FROM point ORDER BY 1, 2").fetchall()
    conn.close()
    with pytest.raises(ProjectError):
        Project.open(path)
    report = copy_project(path, tmp_path / "saved.labeler", images_root=tmp_path)
    assert report.rows["point"] == len(points) > 0
    saved = sqlite3.connect(tmp_path / "saved.labeler")
    assert saved.execute("SELECT image_id, keypoint_id, status, x, y FROM point ORDER BY 1, 2").fetchall() == points
    assert saved.execute("SELECT count(*) FROM sqlite_master WHERE type NOT IN ('table', 'index')").fetchone() == (0,)
    saved.close()
    with Project.open(tmp_path / "saved.labeler") as project:  # labeler's schema: it opens
        project.clear_cache()
        assert len(project.all_points()) == len(points)


def test_quoted_words_are_not_keywords():
    """``x IS "NULL"`` compares with the string 'NULL' when no column is named NULL: a CHECK
    spelled so is another CHECK, not labeler's."""
    from labeler.store.dialects.sqlite_catalog import canonical_table

    ours = canonical_table("CREATE TABLE t (x INTEGER, CHECK (x IS NULL OR x > 0))")
    assert canonical_table('CREATE TABLE t (x INTEGER, CHECK (x IS "NULL" OR x > 0))') != ours
    assert canonical_table("create table T (X integer, check (x is null or x > 0))") == ours
    assert canonical_table("CREATE TABLE t (x INTEGER, CHECK (x IS NULL OR x > 0)) -- a comment") == ours


@pytest.mark.parametrize("version", [2, 3, 4])
def test_real_files_written_by_earlier_labelers_open(tmp_path, version):
    """Files made by labeler's own create at schemas 2-4 (tests/store/data/schemaN, written by
    those versions' code: create_all then, migrations since) pass the comparison and upgrade."""
    src = Path(__file__).parent / "data" / f"schema{version}"
    shutil.copytree(src, tmp_path / "p")
    with Project.open(tmp_path / "p" / f"schema{version}.labeler") as project:
        assert project.schema_version == SCHEMA_VERSION
        assert project.point_counts()  # the labelled point came along
    with Project.open(tmp_path / "p" / f"schema{version}.labeler") as project:  # and the upgraded file too
        assert project.schema_version == SCHEMA_VERSION


def test_connections_set_the_behaviour_pragmas(base, tmp_path):
    shutil.copy(base, tmp_path / base.name)
    with Project.open(tmp_path / base.name) as project, project._engine.connect() as conn:
        pragmas = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("foreign_keys", "recursive_triggers", "trusted_schema")}
    assert pragmas == {"foreign_keys": 1, "recursive_triggers": 0, "trusted_schema": 0}


#: Characters Python's whitespace class takes that SQLite's tokenizer does not (it has five):
#: U+00A0 and the like are letters of a name to SQLite, \x0b and \x1c-\x1f illegal characters.
NOT_SQLITE_SPACE = [chr(c) for c in range(0x110000) if chr(c).isspace() and chr(c) not in " \t\n\f\r"]


def _word_starts(sql: str) -> list[int]:
    import re

    return [m.start() for m in re.finditer(r"(?<=[ \t\n(,])(?=[A-Za-z])", sql)]


def test_a_character_sqlite_reads_as_part_of_a_name_never_vanishes_from_the_compared_sql(base):
    """Every table's SQL with each such character put before a random word: the compared tokens
    differ (before, ``id \\u00a0INTEGER`` compared equal to ``id INTEGER``, while SQLite read a
    type that makes ``id`` no rowid alias: every keypoint's id read as NULL)."""
    import random

    from labeler.store.dialects.sqlite_catalog import tokens

    rng = random.Random(21)
    conn = sqlite3.connect(base)
    sqls = [r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")]
    conn.close()
    assert len(NOT_SQLITE_SPACE) > 20
    for ch in NOT_SQLITE_SPACE:
        for sql in sqls:
            at = rng.choice(_word_starts(sql))
            assert tokens(sql[:at] + ch + sql[at:]) != tokens(sql), (ch, sql[:at])


def test_a_name_sqlite_reads_otherwise_is_refused_when_the_file_opens(base, tmp_path):
    import random

    rng = random.Random(7)
    chars = rng.sample(NOT_SQLITE_SPACE, 6)
    for k, ch in enumerate(chars):
        path = tmp_path / f"{k}.labeler"
        shutil.copy(base, path)
        conn = sqlite3.connect(path, isolation_level=None)
        table = rng.choice(("keypoint", "image", "point", "instance"))
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        new = sql.replace("\n\tid INTEGER", f"\n\tid {ch}INTEGER", 1) if "\n\tid INTEGER" in sql else sql.replace(
            "\n\tx FLOAT", f"\n\tx {ch}FLOAT", 1)
        assert new != sql
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (new, table))
        conn.close()
        with pytest.raises(ProjectError) as caught:
            Project.open(path).close()
        message = str(caught.value)
        assert "\n" not in message and ("refusing to open this project" in message or "malformed" in message), (ch, message)


SALVAGED = ("meta", "keypoint", "image", "skeleton_edge", "flip_pair", "instance", "cache", "claim", "point", "alembic_version")


def _view_in_place_of(table: str):  # noqa: ANN202
    """The table renamed away and a view of its rows (through a recursive query) in its place."""
    return _sql(
        "PRAGMA legacy_alter_table = ON",
        f"ALTER TABLE {table} RENAME TO {table}_rows",
        f"CREATE VIEW {table} AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2) "
        f"SELECT {table}_rows.* FROM {table}_rows, n WHERE n.i = 1",
    )


def _generated_column_in(table: str, stored: bool):  # noqa: ANN202
    if stored:  # ALTER TABLE cannot add a STORED one: the table is rebuilt with it
        return _rebuilt(table, f"CREATE TABLE {table} (", f"CREATE TABLE {table} (\n\tg INTEGER GENERATED ALWAYS AS (length(zeroblob(10))) STORED, ")
    return _sql(f"ALTER TABLE {table} ADD COLUMN g INTEGER GENERATED ALWAYS AS (length(zeroblob(10))) VIRTUAL")


@pytest.mark.parametrize("table", SALVAGED)
def test_copy_reads_rows_only_where_reading_runs_nothing_of_the_file(base, tmp_path, table):
    """Salvage reads no view (a recursive one never ends: `labeler copy` ran forever), no virtual
    table and no generated column in place of one of labeler's tables: refused in one line.
    Each table: a view in its place, a virtual and a stored generated column."""
    from labeler.store.copying import copy_project

    for k, mutation in enumerate((_view_in_place_of(table), _generated_column_in(table, False),
                                  _generated_column_in(table, True))):
        path = tmp_path / f"{k}.labeler"
        shutil.copy(base, path)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            mutation(conn)
        except sqlite3.OperationalError as exc:  # e.g. a generated column cannot join a primary key table's rebuild
            pytest.fail(f"mutation {k} of {table}: {exc}")
        conn.close()
        with pytest.raises(ProjectError) as caught:
            copy_project(path, tmp_path / f"saved{k}.labeler", images_root=tmp_path)
        message = str(caught.value)
        assert "\n" not in message and "refusing to read rows from this project" in message, (k, message)
        assert table in message, message
