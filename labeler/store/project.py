"""One labeling project = one SQLite file, or one schema of a PostgreSQL database.
Creating, opening and closing it.

A location is a file path or a ``postgresql://`` URL (see :mod:`labeler.store.location`).
The file records its images root twice: as an absolute path and relative to the project
file's folder. Opening prefers the relative one, so a project moved together with its images
keeps working, and falls back to the absolute one when only the project file moved.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from labeler import __version__
from labeler.atomic import temp_file
from labeler.errors import ProjectError, UserInputError
from labeler.paths import publish_mode
from labeler.store.cache_ops import CacheOps
from labeler.store.claim_ops import ClaimOps
from labeler.store.database import (
    BUSY_TIMEOUT_S,
    ChangePoller,
    Sessions,
    check_is_sqlite,
    check_sqlite_version,
    connect_raw,
    make_engine,
    probe_file,
    same_file,
)
from labeler.redaction import scrub
from labeler.store.location import PgLocation, is_url, parse_url
from labeler.store.image_ops import ImageOps, insert_probed
from labeler.store.instance_ops import InstanceOps
from labeler.store.integrity import check_meta_types, check_project_file
from labeler.store.schema_reference import (
    check_postgresql_readable,
    check_postgresql_schema,
    check_sqlite_readable,
    check_sqlite_schema,
)
from labeler.store.merge_ops import MergeOps
from labeler.store.migrations import FORMAT_MARKER, SCHEMA_VERSION, migrate, stamp_file_header, stamp_new
from labeler.store.models import Base, MetaRow
from labeler.store.point_ops import PointOps
from labeler.store.prediction_ops import PredictionOps
from labeler.store.relpaths import absolute
from labeler.store.review_ops import ReviewOps
from labeler.store.scanning import ProbedImage, check_folder
from labeler.store.wal_guard import WalGuard, WriteGate
from labeler.store.schema_ops import SchemaOps, check_edges, check_flip_pairs, check_keypoints, write_new_schema

PROJECT_SUFFIX = ".labeler"


def _root_meta(project_path: Path, root: Path) -> dict[str, str]:
    try:
        rel = Path(os.path.relpath(root, project_path.parent)).as_posix()
    except ValueError:  # another drive on Windows
        rel = ""
    return {"images_root": str(root), "images_root_rel": rel}


def _resolve_root(project_path: Path, meta: dict[str, str]) -> Path:
    candidates = []
    if meta.get("images_root_rel"):
        candidates.append(absolute(project_path.parent / meta["images_root_rel"]))
    if meta.get("images_root"):
        candidates.append(Path(meta["images_root"]))
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0] if candidates else project_path.parent


def _check_is_project(path: Path) -> None:
    """--force replaces a labeler project, never another file a typo happened to name."""
    refuse = ProjectError(f"{path} is not a labeler project; refusing to replace it, even with --force")
    try:
        kind = probe_file(path)
    except OSError as exc:
        raise ProjectError(f"{path}: cannot replace it ({exc.strerror})") from None
    except sqlite3.Error:
        raise refuse from None
    if kind == "empty":
        return  # an empty placeholder
    if kind != "sqlite":
        raise refuse
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=2.0)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        raise refuse from None
    if row is None or row[0] != FORMAT_MARKER:
        raise refuse


def _retire(path: Path) -> None:
    """Before --force replaces ``path``: fold its WAL back in (refusing if another program has it
    open) so no stale ``-wal`` file could ever be replayed into the new project."""
    try:
        kind = probe_file(path)
    except OSError as exc:
        raise ProjectError(f"{path}: cannot replace it ({exc.strerror})") from None
    except sqlite3.Error:
        kind = "other"
    if kind == "sqlite":
        conn = sqlite3.connect(path, timeout=2.0, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = DELETE")
        except sqlite3.Error:
            raise ProjectError(f"{path} is open in another program; close it before replacing it") from None
        finally:
            conn.close()
    for side in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{side}")


def _creation_error(target: Path, exc: OSError) -> ProjectError:
    """The user's message for an OS failure while creating ``target``: names the path and the
    OS's reason (never the hidden temporary file's name), worded as the app words it."""
    for folder in target.parents:
        if folder.exists() or folder.is_symlink():
            if not folder.is_dir():
                return ProjectError(f"cannot create {target}: {folder} is a file, not a folder")
            break
    reason = exc.strerror or str(exc)
    if exc.filename is not None and Path(exc.filename).name.endswith(".tmp"):
        reason = f"cannot write in {target.parent} ({reason})"
    return ProjectError(f"cannot create {target}: {reason}")


def default_user() -> str:
    """``LABELER_USER``, else the OS login."""
    try:
        return os.environ.get("LABELER_USER") or getpass.getuser()
    except (KeyError, OSError):  # no login name (some containers)
        return "unknown"


def _journal_mode(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()


def check_user_name(user: str) -> str:
    """A name edits are recorded under: printable text only (a name is printed in every listing,
    so terminal escapes or invisible characters in it would reach other people's terminals)."""
    import unicodedata

    if not user.strip() or any(unicodedata.category(c).startswith("C") for c in user):
        raise UserInputError(f"user name {user!r} is empty or holds control or invisible characters; choose a plain name")
    return user


def _has_alembic_version(engine: Engine) -> bool:
    with engine.connect() as conn:
        return inspect(conn).has_table("alembic_version")


def _upgrade(engine: Engine) -> None:
    """Run the Alembic upgrade in one writer transaction (whoever gets the lock first upgrades;
    the others find it done)."""
    with engine.execution_options(labeler_write=True).begin() as conn:
        again = int(conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar_one())
        if again < SCHEMA_VERSION or not inspect(conn).has_table("alembic_version"):
            migrate(conn, again)


def _new_meta(name: str, root_meta: dict[str, str]) -> dict[str, str]:
    return {
        "format": FORMAT_MARKER,
        "schema_version": str(SCHEMA_VERSION),
        "created_by": f"labeler {__version__}",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "name": name,
        **root_meta,
    }


@contextlib.contextmanager
def _database_errors(where: PgLocation):  # noqa: ANN202 - a context manager
    """A server that is down, refuses the login or the action: one clear ProjectError, the
    password never in it."""
    try:
        yield
    except sa_exc.DBAPIError as exc:
        raise ProjectError(database_message(where.display, exc, where.secrets)) from None


def database_message(display: str, exc: BaseException, secrets: Sequence[str] = ()) -> str:
    """The driver's error re-worded for people: one line, no URL password, no secret value."""
    orig = getattr(exc, "orig", exc)
    reason = scrub(str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__, secrets)
    code = getattr(orig, "sqlstate", None)
    if code == "42501":
        return f"{display}: permission denied by the database ({reason}); ask the project's admin for a role that may do this"
    if isinstance(exc, sa_exc.OperationalError) and code is None:
        return f"{display}: cannot connect to the database server ({reason})"
    return f"{display}: {reason}"


def _build_database(
    where: PgLocation,
    meta: dict[str, str],
    names: tuple[str, ...],
    skeleton: tuple[tuple[str, str], ...],
    flip_pairs: tuple[tuple[str, str], ...],
    images: Sequence[ProbedImage],
    force: bool,
) -> None:
    """Create the project's schema, tables, triggers and rows in one transaction (PostgreSQL's
    DDL is transactional: a failure leaves nothing behind)."""
    from labeler.store.dialects import postgresql as pg  # psycopg: only for database projects

    engine = pg.make_engine(where)
    try:
        with engine.execution_options(labeler_write="new").begin() as conn:
            pg.create_schema(conn, where)
            existing = set(inspect(conn).get_table_names(schema=where.schema))
            ours = set(Base.metadata.tables)
            if "meta" in existing:
                marker = conn.execute(text("SELECT value FROM meta WHERE key = 'format'")).scalar()
                if marker != FORMAT_MARKER:
                    raise ProjectError(f"{where.display}: schema {where.schema!r} is not a labeler project; refusing to replace it")
                if not force:
                    raise ProjectError(
                        f"{where.display} already holds a project; refusing to overwrite it (use --force to replace it)"
                    )
                Base.metadata.drop_all(conn)
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
                for function in pg.GUARD_FUNCTIONS:
                    conn.execute(text(f"DROP FUNCTION IF EXISTS {function}() CASCADE"))
            elif existing & (ours | {"alembic_version"}):
                clash = ", ".join(sorted(existing & (ours | {"alembic_version"})))
                raise ProjectError(
                    f"{where.display}: schema {where.schema!r} already has tables named {clash}; choose another ?schema="
                )
            Base.metadata.create_all(conn)
            stamp_new(conn)
            pg.install_guards(conn)
            with Session(bind=conn) as s:
                s.add_all(MetaRow(key=k, value=v) for k, v in meta.items())
                write_new_schema(s, names, skeleton, flip_pairs)
                insert_probed(s, images)
                s.flush()
    finally:
        engine.dispose()


class Project(SchemaOps, ImageOps, InstanceOps, PointOps, PredictionOps, ReviewOps, MergeOps, CacheOps, ClaimOps):
    """A labeling project. Every method runs and commits its own short transaction and returns
    plain frozen values, so one Project may be used from several threads at once, and several
    processes may open the same file."""

    def __init__(
        self,
        where: Path | PgLocation,
        engine: Engine,
        meta: dict[str, str],
        user: str | None = None,
        guard: WalGuard | None = None,
    ) -> None:
        self._engine = engine
        #: SQLite: the locks that keep the WAL alive while this Project is open (wal_guard.py)
        self._guard = guard
        self.user = check_user_name(user or default_user())
        #: True where the database server records edits under the login role, whatever ``user`` says.
        self.user_fixed = False
        self.schema_version = int(meta["schema_version"])
        if isinstance(where, PgLocation):
            from labeler.store.dialects import postgresql as pg  # psycopg: only for database projects

            #: The location to reopen it with (a database URL may hold a password: show ``display``).
            self.location: str = where.text
            #: For a database project the URL too: it has no file.
            self.path: Path | str = where.text
            self.display: str = where.display
            self.is_database = True
            self._sessions = pg.Sessions(engine)
            self.user, self.user_fixed = pg.recorded_user(engine, where, user, self.user)
            self._poller = pg.ChangePoller(where)
            # each machine may mount the shared images elsewhere: LABELER_IMAGES_ROOT (the app
            # keeps its own per-machine setting and calls set_images_root)
            self._root = Path(os.environ.get("LABELER_IMAGES_ROOT") or meta.get("images_root") or ".")
            self.name: str = meta.get("name") or where.schema
            return
        self.location = str(where)
        self.path = where
        self.display = str(where)
        self.is_database = False
        self._sessions = Sessions(engine)
        self._poller = ChangePoller(where)
        self._root = _resolve_root(where, meta)
        self.name = meta.get("name") or where.stem

    # -- lifecycle -----------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        images_root: str | os.PathLike[str],
        keypoints: Sequence[str] = (),
        skeleton: Iterable[Sequence[str]] = (),
        flip_pairs: Iterable[Sequence[str]] = (),
        *,
        images: Sequence[ProbedImage] = (),
        name: str | None = None,
        force: bool = False,
    ) -> Project:
        """Create a project file (atomically: built beside the target, then renamed) and open it.

        Refuses an existing file unless ``force``. ``images`` (from
        :func:`labeler.store.scanning.probe_files`) are registered in the same step.
        """
        root = absolute(images_root)
        check_folder(root)
        names = check_keypoints(keypoints)
        skeleton = check_edges(skeleton, names)
        flip_pairs = check_flip_pairs(flip_pairs, names)
        if is_url(path):
            where = parse_url(str(path))
            meta = _new_meta(name or where.schema, {"images_root": str(root), "images_root_rel": ""})
            with _database_errors(where):
                _build_database(where, meta, names, skeleton, flip_pairs, images, force)
            return cls.open(where.text)
        check_sqlite_version()
        target = absolute(path)
        try:
            cls._build(target, root, names, skeleton, flip_pairs, images, name, force)
        except OSError as exc:
            raise _creation_error(target, exc) from None
        except (sa_exc.OperationalError, sqlite3.OperationalError) as exc:  # a full disk, an I/O error
            reason = getattr(exc, "orig", exc)
            raise ProjectError(f"cannot create {target}: {reason}") from None
        return cls.open(target)

    @staticmethod
    def _build(
        target: Path,
        root: Path,
        names: tuple[str, ...],
        skeleton: tuple[tuple[str, str], ...],
        flip_pairs: tuple[tuple[str, str], ...],
        images: Sequence[ProbedImage],
        name: str | None,
        force: bool,
    ) -> None:
        """Write the new file beside ``target`` and rename it into place (OS errors propagate)."""
        if target.is_dir():
            raise ProjectError(f"{target} is a folder; give a project file name such as {target / ('project' + PROJECT_SUFFIX)}")
        if target.exists() and not force:
            raise ProjectError(f"{target} already exists; refusing to overwrite it (use --force to replace it)")
        if target.exists():
            _check_is_project(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_file(target)  # removes the leftovers of earlier killed inits first
        try:
            engine = make_engine(tmp, create=True, wal=False)
            try:
                Base.metadata.create_all(engine)
                meta = _new_meta(name or target.stem, _root_meta(target, root))
                sessions = Sessions(engine)
                with sessions.write() as s, s.begin():
                    stamp_file_header(s.connection())
                    s.add_all(MetaRow(key=k, value=v) for k, v in meta.items())
                    write_new_schema(s, names, skeleton, flip_pairs)
                    insert_probed(s, images)
                    stamp_new(s.connection())
            finally:
                engine.dispose()
            if force and target.exists():
                _retire(target)
            publish_mode(tmp, target)
            os.replace(tmp, target)
        except BaseException:
            for leftover in (tmp, Path(f"{tmp}-journal")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
            raise

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, user: str | None = None, salvage: bool = False) -> Project:
        """Open an existing project (a file or a database URL); upgrades an older one, refuses a newer one.

        ``user`` is who its confirmed edits are recorded as (default: :func:`default_user`).
        ``salvage`` (``labeler copy`` only, to read the rows of a file refused for its schema):
        the schema is not compared and the file is never upgraded; the caller only reads rows.
        """
        if is_url(path):
            return cls._open_database(parse_url(str(path)), user, salvage=salvage)
        target = absolute(path)
        check_is_sqlite(target)
        gate = WriteGate(BUSY_TIMEOUT_S)
        engine = make_engine(target, gate=gate)
        guard: WalGuard | None = None
        try:
            meta = cls._read_meta(target, engine, salvage=salvage)
            # the first connection has put the file in WAL mode (which needs an exclusive lock
            # the guard would refuse); from now on no close() anywhere in this process can let
            # another process delete the WAL under us. Not in WAL mode (a folder where no -wal
            # can be made): writers need that exclusive lock to commit, so no guard.
            if _journal_mode(engine) == "wal":
                guard = WalGuard(target, gate=gate)
            found = int(meta["schema_version"])
            if found > SCHEMA_VERSION:
                raise ProjectError(
                    f"{target} was created by a newer labeler (schema {found} > {SCHEMA_VERSION}); upgrade labeler"
                )
            if found < SCHEMA_VERSION or not _has_alembic_version(engine):
                if salvage:
                    raise ProjectError(f"{target}: rows are copied from a project at schema {SCHEMA_VERSION} only; this one is at {found}")
                _upgrade(engine)
                meta = cls._read_meta(target, engine)
            return cls(target, engine, meta, user, guard)
        except BaseException as exc:
            if guard is not None:
                guard.release()
            engine.dispose()
            if guard is not None:
                guard.close()
            if isinstance(exc, (sa_exc.DBAPIError, sqlite3.Error)):
                reason = getattr(exc, "orig", exc)
                raise ProjectError(f"{target}: cannot open it as a labeler project ({reason})") from None
            if isinstance(exc, OSError):
                raise ProjectError(f"{target}: cannot open it ({exc.strerror or exc})") from None
            raise

    @classmethod
    def _open_database(cls, where: PgLocation, user: str | None, *, salvage: bool = False) -> Project:
        from labeler.store.dialects import postgresql as pg  # psycopg: only for database projects

        engine = pg.make_engine(where)
        try:
            with _database_errors(where):
                meta = cls._read_meta(where.display, engine, salvage=salvage)
                found = int(meta["schema_version"])
                if found > SCHEMA_VERSION:
                    raise ProjectError(
                        f"{where.display} was created by a newer labeler (schema {found} > {SCHEMA_VERSION}); upgrade labeler"
                    )
                if found < SCHEMA_VERSION or not _has_alembic_version(engine):
                    if salvage:
                        raise ProjectError(f"{where.display}: rows are copied from a project at schema {SCHEMA_VERSION} only; "
                                           f"this one is at {found}")
                    _upgrade(engine)
                    meta = cls._read_meta(where.display, engine)
                return cls(where, engine, meta, user)
        except BaseException:
            engine.dispose()
            raise

    @staticmethod
    def _read_meta(target: Path | str, engine: Engine, *, salvage: bool = False) -> dict[str, str]:
        with engine.connect() as conn:
            if not inspect(conn).has_table("meta"):
                if engine.dialect.name == "postgresql":
                    from labeler.store.dialects.postgresql import missing_tables_reason

                    raise ProjectError(f"{target}: not a labeler project ({missing_tables_reason(conn)})")
                raise ProjectError(f"{target}: not a labeler project (an SQLite database without labeler's tables)")
            if engine.dialect.name == "sqlite":  # before any of its tables is read
                (check_sqlite_readable if salvage else check_sqlite_schema)(target, conn)
            elif engine.dialect.name == "postgresql":
                (check_postgresql_readable if salvage else check_postgresql_schema)(str(target), conn)
            meta = check_meta_types(target, dict(conn.execute(text("SELECT key, value FROM meta")).all()))
            if meta.get("format") != FORMAT_MARKER:
                raise ProjectError(f"{target}: not a labeler project (its meta table is not labeler's)")
            try:
                version = int(meta["schema_version"])
            except (KeyError, ValueError):
                raise ProjectError(f"{target}: damaged labeler project (no valid schema version)") from None
            if version < 1:
                raise ProjectError(f"{target}: damaged labeler project (schema version {version} does not exist)")
            check_project_file(target, conn)
        return meta

    def close(self) -> None:
        guard, self._guard = self._guard, None
        if guard is not None:
            guard.release()  # so that our own last connection may checkpoint and remove the WAL
        if self._poller is not None:
            self._poller.close()
            self._poller = None
        self._engine.dispose()
        if guard is not None:
            guard.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Project({self.display!r})"

    # -- project-level facts -------------------------------------------------------------------
    @property
    def images_root_found(self) -> bool:
        return self._root.is_dir()

    def set_images_root(self, root: str | os.PathLike[str]) -> None:
        """Point the project at its images' new location (paths inside stay relative)."""
        new = absolute(root)
        check_folder(new)
        if self.is_database:  # each machine mounts the shared images at its own path
            self._root = new
            return
        with self._write() as s, s.begin():
            for key, value in _root_meta(self.path, new).items():
                s.execute(update(MetaRow).where(MetaRow.key == key).values(value=value))
        self._root = new

    def is_own_file(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is this project's database or one of its side files. Reading such a
        file with ``open()`` (an export target, an import source typed by mistake) would drop this
        process's SQLite locks on it: callers refuse it instead."""
        return any(same_file(Path(path), Path(f"{self.path}{side}")) for side in ("", "-wal", "-shm", "-journal"))

    def meta(self) -> dict[str, str]:
        with self._read() as s:
            return dict(s.execute(select(MetaRow.key, MetaRow.value)).all())

    def check_connection(self) -> None:
        """One trivial query: raises (a ProjectError) when a database server cannot be reached."""
        if self.is_database:
            with self._engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")

    def has_changed(self) -> bool:
        """True when any connection (another process, or this Project's own writes) committed
        since the previous call. Cheap enough to poll every few hundred milliseconds."""
        if self._poller is None:
            raise UserInputError("the project is closed")
        return self._poller.changed()


def raw_connection(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A plain sqlite3 connection to a project file (for tests and debugging)."""
    return connect_raw(absolute(path))
