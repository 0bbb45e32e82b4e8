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


def _describe(obj: SchemaObject) -> str:
    return f"{obj.type.lower() if obj.type.lower() in ('table', 'index', 'trigger', 'view') else shown(obj.type)} {shown(obj.name)!r}"


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
