"""A PostgreSQL project schema must be labeler's, exactly (issue #21 §2, the server's half).

One real team project on the session's server; each generated mutation is applied inside a
transaction, the allow-list check runs on that same connection (it sees the uncommitted change),
and the transaction is rolled back, so hundreds of cases cost a few seconds.
"""

from __future__ import annotations

import contextlib
import random

import pytest
from sqlalchemy import text

from labeler.errors import ProjectError
from labeler.store import Project
from labeler.store.migrations import SCHEMA_VERSION
from labeler.store.schema_reference import SchemaRefused, check_postgresql_schema

from schema_history import back_to_schema_6

TABLES = ("meta", "keypoint", "skeleton_edge", "flip_pair", "image", "point", "cache", "claim", "alembic_version")
ROW_TABLES = ("point", "image", "claim", "cache", "keypoint", "meta")
COLUMN = {"point": "x", "image": "id", "claim": "image_id", "cache": "key", "keypoint": "id", "meta": "key"}


@pytest.fixture(scope="module")
def team(pg_server, tmp_path_factory):
    """A team project (guards, policies, grants to every group), owned by the superuser."""
    from labeler.store.copying import copy_project
    from labeler.store.roles import grant
    from labeler.store.testing import make_project

    folder = tmp_path_factory.mktemp("pgallow")
    local, _ = make_project(folder)
    local.close()
    url = f"{pg_server}&schema=allow_team"
    copy_project(folder / "test.labeler", url)
    for person, role in (("allow_ann", "annotator"), ("allow_rev", "reviewer"), ("allow_adm", "admin")):
        grant(url, person, role)
    return url


@pytest.fixture(scope="module")
def opened(team):
    with Project.open(team) as p:
        yield p


def _refused(url: str | Project, statements: list[str]) -> str:
    """Apply ``statements`` in a transaction, run the check there, roll back; the refusal's text."""
    project = url if isinstance(url, Project) else None
    url = project.location if project else url
    with (contextlib.nullcontext(project) if project else Project.open(url)) as p, p._engine.connect() as conn:
        tx = conn.begin()
        try:
            for sql in statements:
                conn.connection.driver_connection.execute(sql)  # as written (no placeholders)
            with pytest.raises(SchemaRefused) as caught:
                check_postgresql_schema(url, conn)
        finally:
            tx.rollback()
    message = str(caught.value)
    assert "\n" not in message and "refusing to open this project" in message and "labeler copy" in message
    return message


def _spell(sql: str, rng: random.Random) -> str:
    """Keywords in any case (unquoted names fold to lower case: the same objects)."""
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in sql)


def _mutations(rng: random.Random) -> list[tuple[str, list[str]]]:
    """(what, statements): generated changes labeler never makes."""
    out: list[tuple[str, list[str]]] = []
    # triggers: every timing and event, row or statement, on every table, any spelling, labeler's
    # own function or a new one
    out.append(("function", ["CREATE FUNCTION evil() RETURNS trigger LANGUAGE plpgsql AS "
                             "$$BEGIN DELETE FROM point; RETURN NULL; END$$"]))
    for i in range(40):
        table = rng.choice(ROW_TABLES)
        timing = rng.choice(("BEFORE", "AFTER"))
        level = rng.choice(("ROW", "STATEMENT"))
        events = rng.sample(["INSERT", "UPDATE", "DELETE", f"UPDATE OF {COLUMN[table]}"]
                            + (["TRUNCATE"] if level == "STATEMENT" else []), rng.randint(1, 2))
        if "UPDATE" in events and any(e.startswith("UPDATE OF") for e in events):
            events.remove("UPDATE")
        fn = rng.choice(("labeler_notify", "evil"))
        create = ["CREATE FUNCTION evil() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$"] if fn == "evil" else []
        kind = rng.choice(("TRIGGER", "CONSTRAINT TRIGGER")) if (timing, level) == ("AFTER", "ROW") else "TRIGGER"
        sql = f"CREATE {kind} t_{i} {timing} {' OR '.join(events)} ON {table} FOR EACH {level} EXECUTE FUNCTION {fn}()"
        out.append((f"trigger {sql}", [*create, _spell(sql, rng)]))
    for mode in ("DISABLE", "ENABLE ALWAYS", "ENABLE REPLICA"):
        out.append((f"{mode} labeler's trigger", [f"ALTER TABLE point {mode} TRIGGER labeler_guard"]))
    out.append(("labeler's trigger dropped", ["DROP TRIGGER labeler_guard ON claim"]))
    # rules
    for event in ("INSERT", "UPDATE", "DELETE", "SELECT"):
        for do in ("ALSO NOTHING", "INSTEAD NOTHING", "ALSO DELETE FROM point"):
            if event == "SELECT":
                continue
            table = rng.choice(ROW_TABLES)
            out.append((f"rule {event} {do}", [_spell(f"CREATE RULE r AS ON {event} TO {table} DO {do}", rng)]))
    # policies, row-level security
    for table in ("point", "claim", "image", "cache"):
        for cmd in ("ALL", "SELECT", "INSERT", "UPDATE", "DELETE"):
            clause = "WITH CHECK (false)" if cmd == "INSERT" else "USING (false)"
            out.append((f"policy {cmd} on {table}", [f"CREATE POLICY p ON {table} AS RESTRICTIVE FOR {cmd} {clause}"]))
    out += [
        ("policy loosened", ["ALTER POLICY labeler_change ON point USING (true)"]),
        ("policy bound to a role", ["ALTER POLICY labeler_remove ON claim TO allow_ann"]),
        ("policy dropped", ["DROP POLICY labeler_remove ON point"]),
        ("rls off", ["ALTER TABLE point DISABLE ROW LEVEL SECURITY"]),
        ("rls forced", ["ALTER TABLE claim FORCE ROW LEVEL SECURITY"]),
        ("rls on another table", ["ALTER TABLE image ENABLE ROW LEVEL SECURITY"]),
    ]
    # foreign keys with every action, new or replacing labeler's
    actions = ("CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION")
    for on_delete in actions:
        out.append((f"fk column ON DELETE {on_delete}",
                    [f"ALTER TABLE point ADD COLUMN k varchar REFERENCES cache(key) ON DELETE {on_delete}"]))
        for on_update in rng.sample(actions, 2):
            out.append((f"fk rebuilt {on_delete}/{on_update}", [
                "ALTER TABLE point DROP CONSTRAINT point_image_id_fkey",
                f"ALTER TABLE point ADD CONSTRAINT point_image_id_fkey FOREIGN KEY (image_id) REFERENCES image(id) "
                f"ON DELETE {on_delete} ON UPDATE {on_update}"]))
    out.append(("fk deferrable", ["ALTER TABLE point ALTER CONSTRAINT point_image_id_fkey DEFERRABLE INITIALLY DEFERRED"]))
    out.append(("fk from image to cache", ["ALTER TABLE cache ADD CONSTRAINT c FOREIGN KEY (image_id) REFERENCES image(id) NOT VALID"]))
    # defaults, checks, generated and identity columns, types, NOT NULL, collations
    for table, column, value in (("point", "status", "'manual'"), ("point", "x", "0"), ("image", "flag", "'skip'"),
                                 ("claim", "user", "session_user"), ("meta", "value", "''")):
        out.append((f"default {table}.{column}", [f'ALTER TABLE {table} ALTER COLUMN "{column}" SET DEFAULT {value}']))
    out += [
        ("check added", ["ALTER TABLE point ADD CONSTRAINT c CHECK (x >= 0)"]),
        ("check not valid", ["ALTER TABLE image ADD CONSTRAINT c CHECK (width < 10) NOT VALID"]),
        ("check dropped", ["ALTER TABLE point DROP CONSTRAINT point_visibility"]),
        ("unique added", ["ALTER TABLE point ADD CONSTRAINT u UNIQUE (keypoint_id)"]),
        ("generated column", ["ALTER TABLE point ADD COLUMN g float GENERATED ALWAYS AS (x * 2) STORED"]),
        ("identity column", ["ALTER TABLE claim ADD COLUMN n int GENERATED ALWAYS AS IDENTITY"]),
        ("column type", ["ALTER TABLE point ALTER COLUMN x TYPE numeric"]),
        ("column type length", ["ALTER TABLE meta ALTER COLUMN value TYPE varchar(4000)"]),
        ("not null dropped", ["ALTER TABLE point ALTER COLUMN status DROP NOT NULL"]),
        ("not null added", ["ALTER TABLE point ALTER COLUMN annotator SET NOT NULL"]),
        ("column dropped", ["ALTER TABLE image DROP COLUMN flag"]),
        ("collation", ['ALTER TABLE image ALTER COLUMN path TYPE varchar COLLATE "POSIX"']),
        ("collation created", ['CREATE COLLATION c2 FROM "C"']),
        ("unlogged", ["ALTER TABLE point SET UNLOGGED"]),
        ("storage option", ["ALTER TABLE point SET (fillfactor = 50)"]),
        # indexes
        ("expression index", ["CREATE INDEX ix ON point ((x + y))"]),
        ("partial unique index", ["CREATE UNIQUE INDEX ix ON point (keypoint_id) WHERE status = 'manual'"]),
        ("labeler's index dropped", [
            "DO $$DECLARE n text; BEGIN SELECT c.relname INTO n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'point'::regclass AND NOT i.indisprimary LIMIT 1; EXECUTE format('DROP INDEX %I', n); END$$"]),
        # views, functions, tables, types, operators, sequences, inheritance
        ("view", ["CREATE VIEW v AS SELECT * FROM point"]),
        ("materialized view", ["CREATE MATERIALIZED VIEW mv AS SELECT 1 AS one"]),
        ("sql function", ["CREATE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'SELECT $1'"]),
        ("procedure", ["CREATE PROCEDURE pr() LANGUAGE sql AS 'SELECT 1'"]),
        ("aggregate", ["CREATE AGGREGATE ag(int) (SFUNC = int4pl, STYPE = int)"]),
        ("guard body changed", ["CREATE OR REPLACE FUNCTION labeler_notify() RETURNS trigger LANGUAGE plpgsql "
                                "SET search_path = pg_catalog, pg_temp AS $$BEGIN RETURN NULL; END$$"]),
        ("guard security definer", ["ALTER FUNCTION labeler_point_guard() SECURITY DEFINER"]),
        ("guard search_path", ["ALTER FUNCTION labeler_claim_guard() SET search_path = public"]),
        ("extra table", ["CREATE TABLE extra (x int)"]),
        ("child table elsewhere", ["CREATE SCHEMA IF NOT EXISTS allow_other",
                                   "CREATE TABLE allow_other.more () INHERITS (point)"]),
        ("enum type", ["CREATE TYPE mood AS ENUM ('a')"]),
        ("domain", ["CREATE DOMAIN d AS int CHECK (VALUE > 0)"]),
        ("operator", ["CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq)"]),
        ("sequence", ["CREATE SEQUENCE s"]),
        ("labeler's sequence changed", ["ALTER SEQUENCE image_id_seq INCREMENT BY 2"]),
        ("statistics", ["CREATE STATISTICS st ON x, y FROM point"]),
        ("table dropped", ["DROP TABLE claim CASCADE"]),
        ("event trigger", ["CREATE FUNCTION allow_other_evt() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN END$$",
                           "CREATE EVENT TRIGGER allow_evt ON ddl_command_start EXECUTE FUNCTION allow_other_evt()"]),
    ]
    return out


def test_every_generated_mutation_of_a_team_project_is_refused(opened):
    rng = random.Random(21)
    cases = _mutations(rng)
    assert len(cases) > 120
    for what, statements in cases:
        message = _refused(opened, statements)
        assert "its schema is not labeler's" in message or "event trigger" in message, (what, message)


def test_the_refusal_names_the_difference(team):
    assert "unknown trigger 'point.t_x'" in _refused(team, ["CREATE TRIGGER t_x AFTER DELETE ON point FOR EACH ROW "
                                                            "EXECUTE FUNCTION labeler_notify()"])
    assert "constraint 'point.point_image_id_fkey' is not defined as labeler defines it" in _refused(team, [
        "ALTER TABLE point DROP CONSTRAINT point_image_id_fkey",
        "ALTER TABLE point ADD CONSTRAINT point_image_id_fkey FOREIGN KEY (image_id) REFERENCES image(id) ON DELETE SET NULL"])
    assert "labeler's policy 'point.labeler_remove' is missing" in _refused(team, ["DROP POLICY labeler_remove ON point"])
    assert "event trigger 'allow_evt2'" in _refused(team, [
        "CREATE FUNCTION allow_evt_f() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN END$$",
        "CREATE EVENT TRIGGER allow_evt2 ON sql_drop EXECUTE FUNCTION allow_evt_f()"])


def test_a_refused_project_is_one_line_on_open_and_copy_salvages_its_rows(team, tmp_path, pg_server):
    """Committed: open refuses with one line; ``labeler copy`` reads the rows into a new project."""
    from labeler.store.copying import copy_project

    url = f"{pg_server}&schema=allow_hostile"
    copy_project(team, url)
    with Project.open(url) as p, p._engine.begin() as conn:
        conn.execute(text("CREATE RULE r AS ON UPDATE TO point DO ALSO DELETE FROM point"))
    with pytest.raises(ProjectError, match=r"unknown rule 'point\.r' that labeler never creates"):
        Project.open(url)
    copy_project(url, tmp_path / "saved.labeler")
    with Project.open(tmp_path / "saved.labeler") as saved:
        assert saved.counts().images == 12
    # salvage reads rows only where reading runs nothing of the schema
    for what, statements in (
        ("view", ["ALTER TABLE point RENAME TO point_rows", "CREATE VIEW point AS SELECT * FROM point_rows"]),
        ("policy", ["CREATE POLICY p ON image FOR SELECT USING (length(path) > 0)", "ALTER TABLE image FORCE ROW LEVEL SECURITY"]),
        ("child", ["CREATE TABLE point_more () INHERITS (point)"]),
        ("type", ["CREATE DOMAIN d AS text", "ALTER TABLE meta ALTER COLUMN value TYPE d"]),
    ):
        hostile = f"{pg_server}&schema=allow_h_{what}"
        copy_project(team, hostile)
        with Project.open(hostile) as p, p._engine.begin() as conn:
            for sql in statements:
                conn.exec_driver_sql(sql)
        with pytest.raises(ProjectError, match="refusing to read rows from this project") as caught:
            copy_project(hostile, tmp_path / f"{what}.labeler")
        assert "\n" not in str(caught.value) and not (tmp_path / f"{what}.labeler").exists(), what


def test_untouched_granted_and_upgraded_projects_open(team, pg_server):
    from labeler.store.dialects.postgresql_catalog import install_legacy_notify

    with Project.open(team) as p:  # after grant: privileges and owners are labeler's business
        assert p.schema_version == SCHEMA_VERSION
    with Project.open(team.replace("postgres:@", "allow_ann@", 1)) as p:  # an annotator opens it too
        assert p.counts().images == 12
    # a schema-5 project (before the team guards; `labeler init` then wrote the notify triggers
    # with the channel as argument) is checked as schema 5, then upgraded and opens
    from labeler.store.copying import copy_project

    old = f"{pg_server}&schema=allow_old"
    copy_project(team, old)
    with Project.open(old) as p, p._engine.begin() as conn:
        back_to_schema_6(conn)  # points straight on images, as before instances
        from labeler.store.dialects.postgresql_team import FUNCTIONS

        for f in FUNCTIONS:  # every guard function there is, as schema 5 had none
            conn.execute(text(f"DROP FUNCTION {f}() CASCADE"))
        for table in ("point", "claim"):
            for policy in ("labeler_read", "labeler_add", "labeler_change", "labeler_remove"):
                conn.execute(text(f"DROP POLICY {policy} ON {table}"))
            conn.execute(text(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"))
        install_legacy_notify(conn, "allow_old")
        conn.execute(text("CREATE TRIGGER labeler_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON claim "
                          "FOR EACH STATEMENT EXECUTE FUNCTION labeler_notify('labeler_allow_old')"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0005'"))
        conn.execute(text("UPDATE meta SET value = '5' WHERE key = 'schema_version'"))
        assert check_postgresql_schema(old, conn) == "0005"
        savepoint = conn.begin_nested()  # a schema-5 project with something more is refused before any upgrade
        conn.execute(text("CREATE TRIGGER x BEFORE UPDATE ON point FOR EACH ROW EXECUTE FUNCTION labeler_notify()"))
        with pytest.raises(SchemaRefused, match=r"nearest: schema 5\): unknown trigger 'point\.x'"):
            check_postgresql_schema(old, conn)
        savepoint.rollback()
    with Project.open(old) as p:
        assert p.schema_version == SCHEMA_VERSION and p.counts().images == 12
    with Project.open(old) as p, p._engine.connect() as conn:
        assert check_postgresql_schema(old, conn) == f"{SCHEMA_VERSION:04d}"


def test_a_recorded_revision_that_is_not_the_schemas_is_refused(team):
    message = _refused(team, ["UPDATE alembic_version SET version_num = '0003'"])

    assert f"its schema is labeler's schema {SCHEMA_VERSION} but its recorded revision is 0003" in message


def test_a_role_that_may_not_create_schemas_builds_the_reference_in_its_temporary_schema(team, opened, tmp_path, monkeypatch):
    """An annotator on a machine without the cached reference: built in pg_temp, the same rows."""
    from labeler.store import schema_reference

    with opened._engine.connect() as conn:
        def rows(built: dict) -> dict:
            return {rev: [sorted(map(tuple, v)) for v in variants] for rev, variants in built.items()}

        assert rows(schema_reference._pg_build(conn, temporary=True)) == rows(schema_reference._pg_build(conn, temporary=False))
    monkeypatch.setenv("LABELER_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(schema_reference, "_pg_memory", {})
    annotator = team.replace("postgres:@", "allow_ann@", 1)
    with Project.open(annotator) as p:
        assert p.counts().images == 12
    assert list((tmp_path / "empty-cache").glob("pg-schema-reference-*.json"))
    monkeypatch.setattr(schema_reference, "_pg_memory", {})
    with Project.open(annotator) as p, p._engine.connect() as conn:  # from the cache file now
        conn.connection.driver_connection.execute("SELECT 1")
        assert check_postgresql_schema(annotator, conn) == f"{SCHEMA_VERSION:04d}"


@pytest.mark.parametrize("schema", ["point", "Select"])
def test_a_schema_named_like_a_table_or_a_keyword_opens_and_is_still_checked(team, pg_server, schema):
    """The schema's name is taken out only where the server wrote it as a qualifier."""
    from labeler.store.copying import copy_project

    url = f"{pg_server}&schema={schema}"
    copy_project(team, url)
    with Project.open(url) as p:
        assert p.counts().images == 12
        assert "unknown trigger 'point.t'" in _refused(p, ["CREATE TRIGGER t BEFORE DELETE ON point FOR EACH ROW "
                                                           "EXECUTE FUNCTION labeler_point_guard()"])


def test_a_stale_cached_reference_is_rebuilt_before_a_refusal(team, opened, tmp_path, monkeypatch):
    import json

    from labeler.store import schema_reference
    from labeler.store.dialects.postgresql_catalog import database_key

    monkeypatch.setenv("LABELER_CACHE", str(tmp_path))
    monkeypatch.setattr(schema_reference, "_pg_memory", {})
    monkeypatch.setattr(schema_reference, "_pg_built", set())
    with opened._engine.connect() as conn:
        key = schema_reference._pg_fingerprint(database_key(conn))
        built = schema_reference._pg_build(conn)
    for variants in built.values():  # a cache that lacks labeler's guard trigger on point
        for rows in variants:
            rows[:] = [r for r in rows if r[:2] != ["trigger", "point.labeler_guard"]]
    path = tmp_path / f"pg-schema-reference-{key}.json"
    path.write_text(json.dumps(built), encoding="utf-8")
    with Project.open(team) as p:
        assert p.counts().images == 12
    assert "point.labeler_guard" in path.read_text(encoding="utf-8")  # replaced by a fresh build
