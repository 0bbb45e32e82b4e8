"""PostgreSQL: a team project in one schema of a shared database.

- Each connection's ``search_path`` is the project's schema, so the shared model's unqualified
  tables are the project's.
- Writers are serialised per project by a transaction-scoped advisory lock taken at BEGIN:
  the same one-writer-at-a-time semantics as SQLite's ``BEGIN IMMEDIATE``, so every
  read-then-write the store does (a point's provenance, "never over confirmed") is race-free.
- Change notification: statement triggers ``pg_notify`` the project's channel; a listening
  connection tells :meth:`Project.has_changed` (SQLite polls ``PRAGMA data_version`` instead).
"""

from __future__ import annotations

import threading
import zlib

from sqlalchemy import Connection, Engine, Integer, String, create_engine, event, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker

from labeler.errors import ProjectError
from labeler.store.dialects import InJsonArray, NotStoredAs
from labeler.store.location import PgLocation

#: Tables whose changes other windows must see (the cache is derived data: no notification).
NOTIFIED_TABLES = ("meta", "keypoint", "skeleton_edge", "flip_pair", "image", "instance", "point", "claim")


def conninfo(location: PgLocation) -> str:
    """The libpq connection string (password included: never show it; see ``redact``)."""
    return location.url.set(drivername="postgresql").render_as_string(hide_password=False)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lock_key(schema: str) -> int:
    return zlib.crc32(f"labeler:{schema}".encode())


@compiles(NotStoredAs, "postgresql")
def _not_stored_as(element: NotStoredAs, compiler, **kw) -> str:  # noqa: ANN001
    return "false"  # typed columns; NaN and infinities are caught by the range comparisons


@compiles(InJsonArray, "postgresql")
def _in_json_array(element: InJsonArray, compiler, **kw) -> str:  # noqa: ANN001 - a SQLCompiler
    op = "NOT IN" if element.negate else "IN"
    column = compiler.process(element.column, **kw)
    types = getattr(compiler.dialect, "type_compiler_instance", None) or compiler.dialect.type_compiler
    sql_type = "text" if isinstance(element.column.type, String) else types.process(element.column.type)
    param = compiler.process(element.param, **kw)
    return f"{column} {op} (SELECT CAST(value AS {sql_type}) FROM json_array_elements_text(CAST({param} AS json)))"


def make_engine(location: PgLocation) -> Engine:
    engine = create_engine(location.url, pool_size=4, max_overflow=8)
    schema = quote(location.schema)
    key = lock_key(location.schema)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn, _record: object) -> None:  # noqa: ANN001 - a psycopg Connection
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        try:
            dbapi_conn.execute(f"SET search_path TO {schema}")
        finally:
            dbapi_conn.autocommit = autocommit

    @event.listens_for(engine, "handle_error")
    def _explain(ctx) -> ProjectError | None:  # noqa: ANN001 - an ExceptionContext
        """A refusal by the database's permissions, or a lost server: one clear message (the
        transaction is rolled back, so nothing of the edit is half-written)."""
        orig = ctx.original_exception
        first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        if getattr(orig, "sqlstate", None) == "42501":
            return PermissionRefused(
                f"{location.display}: your database role may not do this ({first}); "
                "ask the project's admin for another role (`labeler grant`)"
            )
        if ctx.is_disconnect:
            return ProjectError(f"{location.display}: lost the connection to the database server ({first}); "
                                "nothing of the interrupted change was saved")
        return None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get("labeler_write"):
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({key})")

    return engine


class PermissionRefused(ProjectError):
    """The database refused an action for the connected role (see :mod:`labeler.store.roles`)."""


class Sessions:
    """Two session factories on one engine: ``write`` takes the project's writer lock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.read: sessionmaker[Session] = sessionmaker(bind=engine, expire_on_commit=False)
        self.write: sessionmaker[Session] = sessionmaker(
            bind=engine.execution_options(labeler_write=True), expire_on_commit=False
        )


def create_schema(conn: Connection, location: PgLocation) -> None:
    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quote(location.schema)}"))
    conn.execute(text(f"SET LOCAL search_path TO {quote(location.schema)}"))


def install_notify(conn: Connection, location: PgLocation) -> None:
    """Statement triggers that ``pg_notify`` the project's channel on every change."""
    conn.execute(
        text(
            "CREATE OR REPLACE FUNCTION labeler_notify() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_notify(TG_ARGV[0], TG_TABLE_NAME); RETURN NULL; END $$"
        )
    )
    channel = location.channel.replace("'", "''")
    for table in NOTIFIED_TABLES:
        conn.execute(
            text(
                f"CREATE TRIGGER labeler_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION labeler_notify('{channel}')"
            )
        )


class ChangePoller:
    """Tells whether anyone committed a change since the last call (LISTEN on the project's
    channel; this process's own writes notify too, as with SQLite's data_version).

    Each call sends one trivial query: it makes libpq read the notifications waiting on the
    socket (handed to the handler below) and finds out at once when the connection was lost.
    """

    def __init__(self, location: PgLocation) -> None:
        self._location = location
        self._lock = threading.Lock()
        self._moved = False
        self._conn = self._listen()

    def _listen(self):  # noqa: ANN202 - a psycopg Connection
        import psycopg

        conn = psycopg.connect(conninfo(self._location), autocommit=True)
        conn.add_notify_handler(self._notified)
        conn.execute(f"LISTEN {quote(self._location.channel)}")
        return conn

    def _notified(self, _notify: object) -> None:
        self._moved = True

    def changed(self) -> bool:
        """A lost connection is listened again (then True: something may have changed meanwhile);
        a server still unreachable is a ProjectError, which a poller can ignore until it is back."""
        import psycopg

        with self._lock:
            try:
                self._conn.execute("SELECT 1")
            except psycopg.Error:
                self._conn.close()
                try:
                    self._conn = self._listen()
                except psycopg.Error as exc:
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    raise ProjectError(f"{self._location.display}: cannot connect to the database server ({first})") from None
                self._moved = False
                return True
            moved, self._moved = self._moved, False
            return moved

    def close(self) -> None:
        with self._lock:
            self._conn.close()



def after_bulk_copy(conn: Connection, tables) -> None:  # noqa: ANN001 - sqlalchemy Tables
    """Rows copied in with their ids: move each id sequence past the largest one."""
    for table in tables:
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and pk[0].autoincrement is not False and isinstance(pk[0].type, Integer):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
                    f"COALESCE((SELECT MAX({pk[0].name}) FROM {table.name}), 0) + 1, false)"
                )
            )


def missing_tables_reason(conn: Connection) -> str:
    """Why the project's schema shows no labeler tables: it does not exist, this role may not use
    it (the search path then skips it silently), or it holds no project."""
    schema = conn.execute(text("SELECT current_setting('search_path')")).scalar_one().split(",")[0].strip().strip('"')
    row = conn.execute(
        text("SELECT has_schema_privilege(oid, 'USAGE') FROM pg_namespace WHERE nspname = :s"), {"s": schema}
    ).first()
    if row is None:
        return f"no schema {schema!r} in this database (create a project there with `labeler init URL`)"
    if not row[0]:
        return (f"your database role may not use schema {schema!r}; ask the project's admin for a role "
                "(`labeler grant URL NAME --role annotator`)")
    return "a PostgreSQL schema without labeler's tables"
