"""Schema versions of the project file and the place where upgrades run.

A file records the version it was written with in ``meta``. Opening an older file runs the
steps below in one IMMEDIATE transaction; a newer file is refused (we cannot know what an
older program would silently break).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text

FORMAT_MARKER = "labeler-project"
SCHEMA_VERSION = 3
#: ``PRAGMA application_id`` stamped into the file header ("LBLR"), so tools like ``file`` can tell.
APPLICATION_ID = 0x4C424C52

def _columns(conn: Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(text(f"PRAGMA table_info({table})"))}


def _add_image_flag(conn: Connection) -> None:
    """Version 3: ``image.flag``, the image-level status (skip, no object, flag for later)."""
    if "flag" not in _columns(conn, "image"):
        conn.execute(text(
            "ALTER TABLE image ADD COLUMN flag VARCHAR CONSTRAINT image_flag CHECK (flag IS NULL OR flag IN "
            "('skip', 'no_object', 'later'))"
        ))


#: ``_STEPS[n]`` upgrades a file from version n to n + 1.
_STEPS: dict[int, Callable[[Connection], None]] = {
    1: lambda conn: None,  # placeholder: replaced by the mtime step at merge
    2: _add_image_flag,
}


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
