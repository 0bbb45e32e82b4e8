"""Connections to one project file: WAL, foreign keys, FULL sync, IMMEDIATE write transactions.

pysqlite's own transaction handling is switched off (``isolation_level=None``) and SQLAlchemy's
``begin`` event emits BEGIN itself, as SQLAlchemy documents for pysqlite. Writes use
``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes can fail with SQLITE_BUSY
without the busy handler ever retrying, while an immediate one waits for the write lock up front.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from labeler.errors import ProjectError
from labeler.store.wal_guard import WriteGate

BUSY_TIMEOUT_S = 30.0
#: RETURNING (3.35) and json_each (built in since 3.38, in JSON1 builds before) are used.
MIN_SQLITE = (3, 35, 0)


def sqlite_uri(path: Path, *, create: bool) -> str:
    """A ``file:`` URI (spaces, unicode, ``?`` and ``#`` escaped) that never creates by accident."""
    return f"{path.absolute().as_uri()}?mode={'rwc' if create else 'rw'}"


def check_sqlite_version() -> None:
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        need = ".".join(map(str, MIN_SQLITE))
        raise ProjectError(f"labeler needs SQLite {need} or newer; this Python has {sqlite3.sqlite_version}")


def connect_raw(path: Path, *, create: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(
        sqlite_uri(path, create=create),
        uri=True,
        timeout=BUSY_TIMEOUT_S,
        check_same_thread=False,  # the pool hands a connection to one thread at a time
        isolation_level=None,  # SQLAlchemy's "begin" event emits BEGIN
    )
    return conn


def probe_file(path: Path) -> str:
    """``"empty"``, ``"sqlite"`` or ``"other"``, read without a plain ``open()`` of the file.

    On POSIX, closing *any* descriptor of a file drops every lock this process holds on it, so
    reading the header with ``open()``/``close()`` while a connection of ours is open would let
    another process believe it is the last one and checkpoint and delete the WAL under us (SQLite's
    "How To Corrupt An SQLite Database File", 2.2). SQLite's own VFS keeps such descriptors open
    until its locks are released, so the header is read through SQLite.
    """
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if st.st_size == 0:
        return "empty"
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            return "other"
        raise
    return "sqlite"


def check_is_sqlite(path: Path) -> None:
    """Refuse anything that is not an SQLite file before opening it as a project."""
    check_sqlite_version()
    try:
        kind = probe_file(path)
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such project file (create one with `labeler init`)") from None
    except IsADirectoryError:
        raise ProjectError(f"{path}: is a folder, not a labeler project file") from None
    except OSError as exc:
        raise ProjectError(f"{path}: cannot open it ({exc.strerror or exc})") from None
    except sqlite3.Error as exc:
        raise ProjectError(f"{path}: cannot open it as a labeler project ({exc})") from None
    if kind == "empty":
        raise ProjectError(f"{path}: file is empty, not a labeler project")
    if kind == "other":
        raise ProjectError(f"{path}: not a labeler project (not an SQLite database)")


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (hard links, symlinks, case-folding file systems)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def make_engine(path: Path, *, create: bool = False, wal: bool = True, gate: WriteGate | None = None) -> Engine:
    """``gate``: labeler's cross-process writer lock (:class:`~labeler.store.wal_guard.WriteGate`),
    held from every write transaction's BEGIN until its connection returns to the pool."""
    engine = create_engine(
        "sqlite+pysqlite://",
        creator=lambda: connect_raw(path, create=create),
        poolclass=QueuePool,
        pool_size=4,
        max_overflow=8,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            cur.execute("PRAGMA foreign_keys = ON")
            # a project file from someone else: no function of ours runs from its schema
            cur.execute("PRAGMA trusted_schema = OFF")
            if wal:
                cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = FULL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # noqa: ANN001 - sqlalchemy.Connection
        options = conn.get_execution_options()
        write = bool(options.get("labeler_write"))
        if write and gate is not None and not conn.connection.info.get("labeler_gate"):
            gate.enter()
            conn.connection.info["labeler_gate"] = True
        mode = "IMMEDIATE" if write else options.get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    if gate is not None:

        @event.listens_for(engine, "checkin")
        def _checkin(_dbapi_conn: object, record) -> None:  # noqa: ANN001 - a ConnectionRecord
            if record.info.pop("labeler_gate", False):
                gate.leave()

    return engine


class Sessions:
    """Two session factories on one engine: ``write`` begins IMMEDIATE, ``read`` DEFERRED."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.read: sessionmaker[Session] = sessionmaker(bind=engine, expire_on_commit=False)
        self.write: sessionmaker[Session] = sessionmaker(
            bind=engine.execution_options(labeler_write=True), expire_on_commit=False
        )


class ChangePoller:
    """Tells whether another connection committed since the last call (``PRAGMA data_version``).

    It has its own connection: data_version only moves for commits made through *other*
    connections, which includes this process's own writes (they go through the pool).
    """

    def __init__(self, path: Path) -> None:
        self._conn = connect_raw(path)
        self._lock = threading.Lock()
        self._last = self._version()

    def _version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def changed(self) -> bool:
        with self._lock:
            now = self._version()
            moved = now != self._last
            self._last = now
            return moved

    def close(self) -> None:
        with self._lock:
            self._conn.close()
