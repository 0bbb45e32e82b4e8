"""The project file's schema must be labeler's, exactly (an allow-list, not a deny-list).

A project file from someone else can carry behaviour in its schema: a trigger (whatever case its
``sqlite_master.type`` is spelled in, SQLite builds it from its SQL text), a foreign key with
``ON DELETE CASCADE`` to the cache (``clear-cache`` would delete every point), a
``UNIQUE ... ON CONFLICT REPLACE`` (one write silently deletes another row), a default, a
collation, a generated column. Listing what is forbidden misses the next one, so the file's whole
schema (every ``sqlite_master`` row and the header fields labeler sets) is compared with the
schema labeler's own code creates at the file's revision, and anything else is refused.

The reference is never written by hand: it is built by running labeler's Alembic migrations
(``0001`` writes schema 1, each later one its change) into an empty in-memory database, once per
revision and process; the newest revision also accepts what ``create_all`` writes for a new
project (the two spellings compare equal, see :mod:`labeler.store.dialects.sqlite_catalog`).

A PostgreSQL project schema gets the same allow-list (below): its catalog, read by
:mod:`labeler.store.dialects.postgresql_catalog`, against the one labeler's code writes on the same
server; both sides become :class:`SchemaObject` counters and share :func:`difference`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections import Counter
from pathlib import Path

from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import StaticPool

from labeler.display import shown
from labeler.errors import ProjectError
from labeler.store.dialects.sqlite_catalog import SchemaObject, canonical_objects, read_rows, read_schema
from labeler.store.migrations import SCHEMA_VERSION, config, revision_id, stamp_file_header, stamp_new

#: What to do with a refused file (README: "A project file from someone else").
SALVAGE = "`labeler copy` it into a new project (rows are copied, never the schema) if you trust its rows"

Schema = tuple[Counter, dict[str, int]]


class SchemaRefused(ProjectError):
    """The file's schema is not labeler's (``labeler copy`` can still read its rows)."""


def known_revisions() -> tuple[str, ...]:
    return tuple(revision_id(v) for v in range(1, SCHEMA_VERSION + 1))


def _scratch(build) -> tuple[list, dict[str, int]]:  # noqa: ANN001 - a function of one Connection
    engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        with engine.begin() as conn:
            build(conn)
            return read_rows(conn)
    finally:
        engine.dispose()


def _build_rows(revision: str) -> list[tuple[list, dict[str, int]]]:
    """Run labeler's migrations (and, at the newest revision, ``create_all``) into empty
    in-memory databases; their ``sqlite_master`` rows and header."""
    from alembic import command

    def migrated(conn: Connection) -> None:
        command.upgrade(config(conn), revision)
        stamp_file_header(conn)

    built = [_scratch(migrated)]
    if revision == revision_id(SCHEMA_VERSION):
        from labeler.store.models import Base

        def created(conn: Connection) -> None:
            Base.metadata.create_all(conn)
            stamp_new(conn)
            stamp_file_header(conn)

        built.append(_scratch(created))
    return built


def _fingerprint() -> str:
    """What the reference depends on: labeler's schema code, and the libraries that write SQL."""
    import importlib.metadata
    import sqlite3

    import sqlalchemy

    from labeler import __version__
    from labeler.store import migrations

    digest = hashlib.sha256()
    for part in (__version__, sqlite3.sqlite_version, sqlalchemy.__version__, importlib.metadata.version("alembic")):
        digest.update(part.encode() + b"\0")
    store = Path(migrations.__file__).parent.parent
    for path in sorted([*migrations.FOLDER.rglob("*.py"), store / "models.py", store / "records.py"]):
        digest.update(path.relative_to(store).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def _cached_rows(revision: str) -> list[tuple[list, dict[str, int]]]:
    """:func:`_build_rows`, kept as JSON in labeler's cache folder (building imports Alembic and
    runs every migration: about 0.3 s that every command would pay). The file is keyed by a hash
    of the migrations, the model and the library versions, so a changed schema rebuilds it."""
    from labeler.paths import cache_dir

    try:
        path = cache_dir() / f"schema-reference-{_fingerprint()}-{revision}.json"
    except (OSError, ImportError):
        return _build_rows(revision)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [([tuple(r) for r in rows], {str(k): int(v) for k, v in header.items()}) for rows, header in data]
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    built = _build_rows(revision)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(built), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
    return built


@functools.lru_cache(maxsize=None)
def sqlite_references(revision: str) -> tuple[Schema, ...]:
    """The schemas labeler writes at ``revision``: its migrations run from empty, and for the
    newest revision also a new project made from the model."""
    return tuple((Counter(canonical_objects(rows)), header) for rows, header in _cached_rows(revision))


def _file_revision(target: Path | str, conn: Connection, objects: Counter) -> str:
    if any(o.type == "table" and o.name == "alembic_version" for o in objects):
        rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        if len(rows) != 1 or rows[0] not in known_revisions():
            found = shown(", ".join(map(str, rows))) if rows else "none"
            raise ProjectError(
                f"{target}: refusing to open this project: its schema revision ({found}) is not one this "
                f"labeler knows ({known_revisions()[0]} to {known_revisions()[-1]}); it was made by a newer "
                "labeler or altered"
            )
        return rows[0]
    return revision_id(1)  # before Alembic: schema 1 (stamped and upgraded on open)


def _without_alembic(ref: Counter) -> Counter:
    return Counter({o: n for o, n in ref.items() if o.table != "alembic_version"})


#: Kinds of object named as they are (SQLite's ``sqlite_master.type`` words, PostgreSQL's catalog kinds).
_KINDS = ("table", "index", "trigger", "view", "column", "constraint", "rule", "policy", "function", "sequence",
          "type", "relation", "operator", "collation", "conversion", "operator class", "operator family",
          "text search configuration", "text search dictionary", "statistics object", "extension")


def _describe(obj: SchemaObject) -> str:
    return f"{obj.type.lower() if obj.type.lower() in _KINDS else shown(obj.type)} {shown(obj.name)!r}"


def difference(found: Schema, expected: Schema) -> str | None:
    """One phrase naming the first way ``found`` differs from ``expected``, or None."""
    objects, header = found
    ref_objects, ref_header = expected
    if objects == ref_objects and header == ref_header:
        return None
    ref_keys = {o.key: o for o in ref_objects}
    keys = {o.key: o for o in objects}
    for obj in sorted(objects, key=lambda o: (o.type != "trigger", o.type, o.name)):
        if obj.sql is None and obj.name == "sqlite_autoindex":
            continue  # compared below, as a count per table
        if obj.key not in ref_keys:
            return f"unknown {_describe(obj)} that labeler never creates"
        ref = ref_keys[obj.key]
        if obj != ref:
            if obj.table != ref.table:
                return f"{_describe(obj)} belongs to table {shown(obj.table)!r}, not {ref.table!r}"
            return f"{_describe(obj)} is not defined as labeler defines it{_first_item(obj, ref)}"
    for obj in ref_objects:
        if obj.key not in keys and obj.name != "sqlite_autoindex":
            return f"labeler's {_describe(obj)} is missing"
    if Counter(o for o in objects if o.type == "index") != Counter(o for o in ref_objects if o.type == "index"):
        return "its automatic indexes (PRIMARY KEY / UNIQUE) are not labeler's"
    for name, value in header.items():
        if ref_header.get(name) != value:
            return f"PRAGMA {name} is {value}, labeler sets {ref_header.get(name)}"
    return "it differs from labeler's schema"


def _first_item(obj: SchemaObject, ref: SchemaObject) -> str:
    from labeler.store.dialects.sqlite_catalog import iter_items

    extra = Counter(iter_items(obj)) - Counter(iter_items(ref))
    missing = Counter(iter_items(ref)) - Counter(iter_items(obj))
    for label, items in (("has", extra), ("lacks", missing)):
        for item in items:
            return f" (it {label}: {shown(_item_text(item), 120)})"
    if isinstance(obj.sql, str) and isinstance(ref.sql, str):  # PostgreSQL: the first field that differs
        for found, expected in zip(obj.sql.split(" | "), ref.sql.split(" | ")):
            if found != expected:
                return f" (it has: {shown(' '.join(found.split()), 60)}; labeler's: {shown(' '.join(expected.split()), 40)})"
    return ""


def _item_text(item: object) -> str:
    def flat(x: object) -> list[str]:
        if isinstance(x, tuple) and len(x) == 2 and all(isinstance(v, str) for v in x) and x[0] in (
            "word", "qid", "str", "num", "blob", "op", "var", "other"
        ):
            return [x[1]]
        if isinstance(x, tuple):
            return [s for v in x for s in flat(v)]
        return []

    parts = flat(item[1:] if isinstance(item, tuple) else item)
    return " ".join(parts).replace("( ", "(").replace(" )", ")").replace(" ,", ",")


def check_sqlite_schema(target: Path | str, conn: Connection) -> None:
    """Refuse a file whose schema is not the one labeler writes at the file's revision."""
    objects, header = read_schema(conn)
    found = Counter(objects)
    revision = _file_revision(target, conn, found)
    has_alembic = any(o.name == "alembic_version" for o in found)
    problems = []
    for ref_objects, ref_header in sqlite_references(revision):
        expected = (ref_objects if has_alembic else _without_alembic(ref_objects), ref_header)
        problem = difference((found, header), expected)
        if problem is None:
            return
        problems.append(problem)
    raise SchemaRefused(
        f"{target}: refusing to open this project: its schema is not labeler's (schema {int(revision)}): "
        f"{problems[0]}; someone or something changed the file. {SALVAGE}"
    )


def check_sqlite_readable(target: Path | str, conn: Connection) -> None:
    """For ``labeler copy`` out of a refused file (salvage): reading its rows must run nothing of
    its schema. A SELECT runs no trigger, but reading a view runs its query (a recursive one never
    ends), a virtual table its module, a generated column its expression; so each of labeler's
    tables must be a plain table (``CREATE TABLE`` with labeler's name) without generated columns.
    Triggers, defaults, CHECKs and foreign keys do not act on reads."""
    objects, _ = read_schema(conn)
    found = {o.key: o for o in objects}
    ref = sqlite_references(revision_id(SCHEMA_VERSION))[0][0]
    problem = None
    for obj in sorted((o for o in ref if o.type == "table"), key=lambda o: o.name):
        mine = found.get(obj.key)
        if mine is None or not isinstance(mine.sql, tuple) or not mine.sql or mine.sql[0] != obj.sql[0]:
            problem = f"its table {shown(obj.name)!r} is not a plain table as labeler makes it"
        else:
            hidden = [r[6] for r in conn.exec_driver_sql(f'PRAGMA main.table_xinfo("{obj.name}")')]
            if any(h != 0 for h in hidden):
                problem = f"its table {shown(obj.name)!r} has generated columns, which would run on reading"
        if problem:
            raise SchemaRefused(f"{target}: refusing to read rows from this project: {problem}; "
                                "copy its rows with a tool you trust (the sqlite3 shell's .dump)")


# -- PostgreSQL ---------------------------------------------------------------------------------
# The same allow-list for a project schema on a server: its catalog (read by
# :mod:`labeler.store.dialects.postgresql_catalog` in one query) must equal the catalog that
# labeler's own code writes, at one of the revisions it knows. The reference is built on the same
# server (the server renders the definitions, and its version decides how), in scratch schemas of
# a transaction that is rolled back: labeler's migrations from empty, revision by revision, and a
# new project as ``labeler init`` makes it. It is kept in labeler's cache folder per server version
# and hash of the schema code, so opening a project costs one catalog query after the first time.

PgReference = dict[str, list[Counter]]


@functools.lru_cache(maxsize=None)
def _pg_fingerprint(server: str) -> str:
    from labeler.store.dialects import postgresql_catalog, postgresql_team

    digest = hashlib.sha256(f"{_fingerprint()}\0{server}\0".encode())
    for module in (postgresql_catalog, postgresql_team):
        digest.update(Path(module.__file__).read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def _pg_build(conn: Connection, *, temporary: bool | None = None) -> dict[str, list[list]]:
    """Build labeler's schemas on a connection of its own, in a transaction that is rolled back:
    in a scratch schema, or (a role that may not create schemas, such as an annotator; or
    ``temporary=True``) in the session's temporary schema, where functions are reached only
    through the ``pg_temp.`` qualifier that :func:`.postgresql_catalog.temporary_build` adds."""
    import secrets

    from sqlalchemy.exc import ProgrammingError

    from labeler.store.dialects.postgresql import PermissionRefused
    from labeler.store.dialects.postgresql_catalog import temporary_build

    with conn.engine.connect() as c:
        tx = c.begin()
        try:
            if not temporary:
                scratch = f"labeler_reference_{secrets.token_hex(6)}"
                try:
                    with c.begin_nested():
                        c.exec_driver_sql(f'CREATE SCHEMA "{scratch}"')
                except (ProgrammingError, PermissionRefused) as exc:  # the engine re-words a refusal
                    refused = isinstance(exc, PermissionRefused) or getattr(exc.orig, "sqlstate", None) == "42501"
                    if not refused or temporary is False:
                        raise
                    temporary = True
            if temporary:
                with temporary_build(c) as scratch:
                    return _pg_run(c, scratch, temporary=True)
            return _pg_run(c, scratch, temporary=False)
        finally:
            tx.rollback()


def _pg_run(c: Connection, scratch: str, *, temporary: bool) -> dict[str, list[list]]:
    """Labeler's migrations from empty, revision by revision, then (from empty again) a new
    project as ``labeler init`` makes it; the catalog of each."""
    from alembic import command

    from labeler.store.dialects.postgresql_catalog import install_legacy_notify, read_catalog
    from labeler.store.dialects.postgresql_team import install_guards
    from labeler.store.models import Base

    def catalog() -> list[list]:
        return [list(r) for r in read_catalog(c, scratch, temporary=temporary)]

    c.exec_driver_sql(f'SET LOCAL search_path TO "{scratch}"')
    built: dict[str, list[list]] = {}
    chain = c.begin_nested()
    for version in range(1, SCHEMA_VERSION + 1):
        command.upgrade(config(c), revision_id(version))
        if version == 1:  # what `labeler init` added then (migration 0003 relies on it)
            install_legacy_notify(c, scratch)
        built[revision_id(version)] = [catalog()]
    chain.rollback()
    Base.metadata.create_all(c)
    stamp_new(c)
    install_guards(c)
    built[revision_id(SCHEMA_VERSION)].append(catalog())
    return built


_pg_memory: dict[str, PgReference] = {}
#: Keys whose reference this process built itself (a refusal is never decided on a stale cache).
_pg_built: set[str] = set()


def postgresql_references(conn: Connection, *, fresh: bool = False) -> PgReference:
    """Revision -> the catalogs labeler writes at it on this server (memory, then cache file, then
    built; ``fresh``: built now, and the cache replaced)."""
    from labeler.paths import cache_dir
    from labeler.store.dialects.postgresql_catalog import database_key

    key = _pg_fingerprint(database_key(conn))
    if key in _pg_memory and not fresh:
        return _pg_memory[key]
    data = None
    try:
        path: Path | None = cache_dir() / f"pg-schema-reference-{key}.json"
    except (OSError, ImportError):
        path = None
    if path is not None and not fresh:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or set(data) != set(known_revisions()):
                data = None
        except (OSError, ValueError):
            data = None
    if data is None:
        data = _pg_build(conn)
        _pg_built.add(key)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(data), encoding="utf-8")
                os.replace(tmp, path)
            except OSError:
                pass
    try:
        refs = {rev: [Counter(SchemaObject(*map(str, r)) for r in rows) for rows in variants]
                for rev, variants in data.items()}
    except (TypeError, ValueError):
        refs = {rev: [Counter(SchemaObject(*r) for r in rows) for rows in variants]
                for rev, variants in _pg_build(conn).items()}
    _pg_memory[key] = refs
    return refs


def _pg_found(conn: Connection) -> Counter:
    from labeler.store.dialects.postgresql_catalog import read_catalog

    schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
    return Counter(SchemaObject(*r) for r in read_catalog(conn, schema))


def _refuse_event_triggers(target: str, conn: Connection) -> None:
    from labeler.store.dialects.postgresql_catalog import event_triggers

    for name, event in event_triggers(conn):
        raise SchemaRefused(
            f"{target}: refusing to open this project: the database has event trigger {shown(name)!r} (on {shown(event)}), "
            "which labeler never creates and which could act on the project; ask the database's owner to disable it "
            "(ALTER EVENT TRIGGER ... DISABLE), or copy the project's rows to another database with `labeler copy`"
        )


def check_postgresql_readable(target: str, conn: Connection) -> None:
    """For ``labeler copy`` out of a refused project (salvage): reading its rows must run nothing
    of its schema. Each of labeler's tables must be a plain table as labeler makes it (not a view,
    no child tables, row security as labeler sets it), with no SELECT rule, only labeler's policies
    for reading, and
    labeler's column types; triggers, defaults, constraints and rules or policies for writing do
    not act on reads."""
    _refuse_event_triggers(target, conn)
    found = _pg_found(conn)
    ref = postgresql_references(conn)[revision_id(SCHEMA_VERSION)][0]
    tables = {o.name for o in ref if o.type == "table"}
    by_key = {o.key: o for o in found}
    problem = None
    for obj in sorted(ref, key=lambda o: (o.type, o.name)):
        if obj.type == "table" and by_key.get(obj.key) != obj:
            problem = f"its table {shown(obj.name)!r} is not a plain table as labeler makes it"
        elif obj.type == "column" and obj.key in by_key and by_key[obj.key].sql.split(" | ")[0] != obj.sql.split(" | ")[0]:
            problem = f"its column {shown(obj.name)!r} is not of labeler's type"
        if problem:
            break
    if problem is None:
        for obj in sorted(found, key=lambda o: (o.type, o.name)):
            reads = (obj.type == "rule" and " ON SELECT " in obj.sql) or (obj.type == "policy" and obj.sql.split(" | ")[0] in ("command=r", "command=*"))
            if reads and obj.table in tables and obj not in ref:
                problem = f"{obj.type} {shown(obj.name)!r} would act on reading its rows"
                break
    if problem is not None:
        raise SchemaRefused(f"{target}: refusing to read rows from this project: {problem}; "
                            "copy its rows with a tool you trust (pg_dump --data-only)")


def check_postgresql_schema(target: str, conn: Connection) -> str:
    """Refuse a project schema whose catalog is not one labeler writes (or a database whose event
    triggers could act on it); returns the revision it matched."""
    from labeler.store.dialects.postgresql_catalog import database_key

    _refuse_event_triggers(target, conn)
    found = _pg_found(conn)
    refs = postgresql_references(conn)
    matched = [rev for rev, variants in refs.items() if any(found == ref for ref in variants)]
    if not matched and _pg_fingerprint(database_key(conn)) not in _pg_built:
        # before refusing, make sure the reference is this server's as it is now (a cache file
        # kept from another server of the same version with other settings would be stale)
        refs = postgresql_references(conn, fresh=True)
        matched = [rev for rev, variants in refs.items() if any(found == ref for ref in variants)]
    if matched:
        rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        if len(rows) == 1 and rows[0] in matched:
            return rows[0]
        found_rev = shown(", ".join(map(str, rows))) if rows else "none"
        raise SchemaRefused(
            f"{target}: refusing to open this project: its schema is labeler's schema {int(matched[0])} but its "
            f"recorded revision is {found_rev}; someone or something changed it. {SALVAGE}"
        )
    # name the difference from the nearest of labeler's schemas
    distance, revision, ref = min(
        ((sum(((found - r) + (r - found)).values()), rev, r) for rev, variants in refs.items() for r in variants),
        key=lambda t: (t[0], -int(t[1])),
    )
    problem = difference((found, {}), (ref, {})) or "it differs from labeler's schema"
    raise SchemaRefused(
        f"{target}: refusing to open this project: its schema is not labeler's (nearest: schema {int(revision)}): "
        f"{problem}. {SALVAGE}"
    )
