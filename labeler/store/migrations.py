"""Schema versions of the project file and the place where upgrades run.

A file records the version it was written with in ``meta``. Opening an older file runs the
steps below in one IMMEDIATE transaction; a newer file is refused (we cannot know what an
older program would silently break).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text

FORMAT_MARKER = "labeler-project"
SCHEMA_VERSION = 2
#: ``PRAGMA application_id`` stamped into the file header ("LBLR"), so tools like ``file`` can tell.
APPLICATION_ID = 0x4C424C52

def _v1_to_v2(conn: Connection) -> None:
    """Version 2 records each file's mtime and whether it now holds another picture (a file
    replaced by one of the same size was never noticed). mtime stays NULL until the first check
    hashes the file once."""
    conn.execute(text("ALTER TABLE image ADD COLUMN mtime_ns INTEGER"))
    conn.execute(text("ALTER TABLE image ADD COLUMN changed BOOLEAN NOT NULL DEFAULT 0"))


#: ``_STEPS[n]`` upgrades a file from version n to n + 1.
_STEPS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2}


def migrate(conn: Connection, found: int) -> int:
    """Bring a file of version ``found`` to :data:`SCHEMA_VERSION`; returns the new version."""
    for version in range(found, SCHEMA_VERSION):
        step = _STEPS.get(version)
        if step is None:
            raise RuntimeError(f"no migration from project schema {version} to {version + 1}")
        step(conn)
        conn.execute(
            text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": str(version + 1)}
        )
    return SCHEMA_VERSION
