"""PostgreSQL: a team project in one schema of a shared database.

- Each connection's ``search_path`` is the project's schema, so the shared model's unqualified
  tables are the project's.
- Writers are serialised per project by a lock on the project's own ``point`` table taken at
  BEGIN (only its members may take it; a bounded wait, then an error naming who holds it): the
  same one-writer-at-a-time semantics as SQLite's ``BEGIN IMMEDIATE``, so every read-then-write
  the store does (a point's provenance, "never over confirmed") is race-free.
- Change notification: statement triggers ``pg_notify`` the project's channel; a listening
  connection tells :meth:`Project.has_changed` (SQLite polls ``PRAGMA data_version`` instead).
- What the server itself guarantees to a team (names, triggers, row-level security):
  :mod:`labeler.store.dialects.postgresql_team`.
"""

from __future__ import annotations

import threading

from sqlalchemy import Connection, Engine, Integer, String, create_engine, event, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker

from labeler.errors import ProjectError
from labeler.store.dialects import InJsonArray, NotStoredAs
from labeler.store.dialects import postgresql_team as team
from labeler.store.dialects.postgresql_team import FUNCTIONS as GUARD_FUNCTIONS  # noqa: F401 - re-exported
from labeler.store.dialects.postgresql_team import NOTIFIED_TABLES  # noqa: F401 - re-exported
from labeler.redaction import redact
from labeler.store.location import PgLocation

#: Seconds a writer waits for another writer of the same project before giving up with their name.
LOCK_WAIT_S = 30.0


def conninfo(location: PgLocation) -> str:
    """The libpq connection string (password included: never show it; see ``redact``)."""
    return location.url.set(drivername="postgresql").render_as_string(hide_password=False)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
    # named in pg_stat_activity, so a held writer lock says which program holds it
    named = {} if "application_name" in location.url.query else {"application_name": "labeler"}
    # Every wait for a lock is bounded, reads included: any member may LOCK a table they can write
    # IN ACCESS EXCLUSIVE MODE (PostgreSQL lets UPDATE do that), which would stall everyone's reads
    # without a word. A startup option, so the writer lock's `SET LOCAL ... = DEFAULT` returns to it.
    given = location.url.query.get("options", "")
    named["options"] = f"{given if isinstance(given, str) else ' '.join(given)} -c lock_timeout={max(1, int(LOCK_WAIT_S * 1000))}".strip()
    engine = create_engine(location.url, pool_size=4, max_overflow=8, connect_args=named)
    schema = quote(location.schema)

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
        if getattr(orig, "sqlstate", None) == "42501" and "row-level security" in first:
            what = {"point": "change a point someone else confirmed", "claim": "change someone else's claim"}
            table = next((t for t in what if f'table "{t}"' in first), None)
            if table is not None:
                return PermissionRefused(f"{location.display}: your database role may not {what[table]}; "
                                         "nothing was saved (a reviewer or admin can)")
        if getattr(orig, "sqlstate", None) == "42501" and first.startswith("your database role may not "):
            return PermissionRefused(f"{location.display}: {first}; nothing was saved (a reviewer or admin can)")  # a guard's words
        if getattr(orig, "sqlstate", None) == "42501":
            return PermissionRefused(
                f"{location.display}: your database role may not do this ({first}); "
                "ask the project's admin for another role (`labeler grant`)"
            )
        if getattr(orig, "sqlstate", None) == "55P03":  # lock_not_available: the bounded wait ran out
            return ProjectError(f"{location.display}: the project is locked by {_lock_holders(location)}; "
                                f"waited {LOCK_WAIT_S:g} s for them to finish (nothing was changed)")
        if ctx.statement is None and _no_server(orig):  # no connection made at all
            return ServerUnreachable(f"{location.display}: cannot connect to the database server ({redact(first)})")
        if ctx.is_disconnect or _no_server(orig):
            return ServerUnreachable(f"{location.display}: lost the connection to the database server ({first}); "
                                "nothing of the interrupted change was saved")
        return None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # "new": the project's tables are being created (there is no lock to take yet)
        if conn.get_execution_options().get("labeler_write") not in (None, False, "new"):
            _take_write_lock(conn, location)

    return engine


def _take_write_lock(conn: Connection, location: PgLocation) -> None:
    """The project's writer lock (see :data:`.postgresql_team.write_lock_sql`); past the wait, an
    error naming who holds it."""
    import psycopg

    try:
        conn.connection.driver_connection.execute(team.write_lock_sql(LOCK_WAIT_S))
    except psycopg.errors.LockNotAvailable:
        holders = _lock_holders(location)
        raise ProjectError(f"{location.display}: the project is being written by {holders}; "
                           f"waited {LOCK_WAIT_S:g} s for them to finish") from None
    except psycopg.errors.InsufficientPrivilege as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise PermissionRefused(f"{location.display}: your database role may not do this ({first}); "
                                "ask the project's admin for another role (`labeler grant`)") from None
    except psycopg.OperationalError as exc:
        if exc.sqlstate is not None:  # an answer from the server: not a lost connection
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ServerUnreachable(f"{location.display}: lost the connection to the database server ({redact(first)}); "
                                "nothing of the interrupted change was saved") from None


def _lock_holders(location: PgLocation) -> str:
    """Who holds a lock on the project that blocks others (asked on a connection of its own)."""
    import psycopg

    try:
        with psycopg.connect(conninfo(location), autocommit=True) as other:
            found = other.execute(team.HOLDERS_SQL, {"point": f"{quote(location.schema)}.point",
                                                     "schema": quote(location.schema)}).fetchone()
            return found[0] if found and found[0] else "another session"
    except psycopg.Error:
        return "another session"


class PermissionRefused(ProjectError):
    """The database refused an action for the connected role (see :mod:`labeler.store.roles`)."""


class ServerUnreachable(ProjectError):
    """The database server went away or cannot be reached (nothing of the change was saved)."""


def _no_server(exc: BaseException) -> bool:
    """psycopg's OperationalError without an SQLSTATE: no answer from a server at all."""
    return type(exc).__name__ == "OperationalError" and getattr(exc, "sqlstate", None) is None


def is_server_unreachable(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what it was raised from) means the server cannot be reached now."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ServerUnreachable) or _no_server(exc) or _no_server(getattr(exc, "orig", None) or Exception()):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


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


def recorded_user(engine: Engine, location: PgLocation, asked: str | None, default: str) -> tuple[str, bool]:
    """Whose name this connection's edits carry. The server records the login role for everyone
    but the project's admins (its triggers overwrite whatever a client writes), so that is the
    name; asking for another one is refused rather than silently ignored. Admins (and superusers),
    whose rows are stored as written, keep ``--user`` and its default. Returns (name, whether the
    server fixes it)."""
    from labeler.errors import UserInputError

    with engine.connect() as conn:
        role, admin = conn.execute(text(
            "SELECT session_user, COALESCE(pg_has_role(current_user, "
            "(SELECT relowner FROM pg_class WHERE oid = to_regclass('point')), 'USAGE'), false)"
        )).one()
    if admin:
        return default, False
    if asked is not None and asked != role:
        raise UserInputError(
            f"{location.display}: edits here are recorded by the server as your database role {role!r}; "
            f"--user {asked!r} cannot change that (connect as {asked!r} instead)"
        )
    return role, True


def install_guards(conn: Connection) -> None:
    """Change notification and the server's own rules (see :mod:`.postgresql_team`)."""
    team.install_guards(conn)


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
        database = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(f"LISTEN {quote(team.channel(database, self._location.schema))}")
        legacy = team.legacy_channel(self._location.schema)
        if len(legacy) <= 63:  # a project made before the hashed names, not yet granted again
            conn.execute(f"LISTEN {quote(legacy)}")
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
                    raise ServerUnreachable(f"{self._location.display}: cannot connect to the database server ({first})") from None
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
