"""Schema versions of a project and the place where upgrades run: Alembic, on both backends.

Every project records its Alembic revision (table ``alembic_version``) and, for older
programs and people, the same number in ``meta.schema_version``. Opening an older project
upgrades it in the opening transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: the writer lock);
a newer one is refused (we cannot know what an older program would silently break). Files from
before Alembic (schema 1) carry no ``alembic_version``; they are revision ``0001``.

Adding a schema change (see versions/README.md):
1. change the model in :mod:`labeler.store.models` (new projects are created from it);
2. add ``versions/NNNN_what.py`` with ``revision = "NNNN"``, ``down_revision`` the previous
   one, and ``upgrade()`` doing the same change with ``op`` (it runs on SQLite and PostgreSQL:
   ``op.add_column`` / ``op.create_table`` only: never a batch copy, whose DROP TABLE would
   delete child rows through ON DELETE CASCADE on SQLite; see versions/README.md);
3. set :data:`SCHEMA_VERSION` to NNNN. tests/store/test_migrations.py checks the chain, that
   an upgraded v1 file equals a new project's schema, and the upgrade of a real v1 file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, inspect, select, text

from labeler.errors import ProjectError

if TYPE_CHECKING:  # Alembic is imported when a project is created or upgraded, not with the store
    from alembic.config import Config

FORMAT_MARKER = "labeler-project"
#: The newest revision's number (revision ids are this number as 4 digits).
SCHEMA_VERSION = 7
#: ``PRAGMA application_id`` stamped into the file header ("LBLR"), so tools like ``file`` can tell.
APPLICATION_ID = 0x4C424C52
FOLDER = Path(__file__).parent


def revision_id(version: int) -> str:
    return f"{version:04d}"


def config(conn: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(FOLDER))
    cfg.attributes["connection"] = conn
    return cfg


def stamp_new(conn: Connection) -> None:
    """Record that a project just created from the model is at the newest revision."""
    from alembic import command

    command.stamp(config(conn), revision_id(SCHEMA_VERSION))


def stamp_file_header(conn: Connection) -> None:
    """The SQLite header fields labeler sets on a new project file (``file`` can tell it)."""
    conn.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _row_counts(conn: Connection) -> dict[str, int]:
    """Rows per table of the model that exists in the project (the upgrade may add tables)."""
    from labeler.store.models import Base

    present = set(inspect(conn).get_table_names())
    tables = [t for t in Base.metadata.sorted_tables if t.name in present]
    return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in tables}


def migrate(conn: Connection, found: int) -> int:
    """Bring a project of version ``found`` to :data:`SCHEMA_VERSION` inside the caller's
    transaction; returns the new version."""
    from alembic import command

    cfg = config(conn)
    before = _row_counts(conn)
    if current_revision(conn) is None:  # written before Alembic
        command.stamp(cfg, revision_id(found))
    command.upgrade(cfg, revision_id(SCHEMA_VERSION))
    after = _row_counts(conn)
    lost = {t: n - after.get(t, 0) for t, n in before.items() if after.get(t, 0) < n}
    if lost:  # raising inside the caller's transaction rolls the whole upgrade back
        shown = ", ".join(f"{n} row(s) of {t}" for t, n in sorted(lost.items()))
        raise ProjectError(f"upgrading this project to schema {SCHEMA_VERSION} would lose {shown}; nothing was changed")
    conn.execute(text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": str(SCHEMA_VERSION)})
    return SCHEMA_VERSION
