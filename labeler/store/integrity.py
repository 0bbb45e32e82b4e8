"""What a project file from someone else is checked for before labeler uses it.

A project is an SQLite file, and SQLite files can carry code: a trigger runs on every edit (one
could demote every confirmed point to "predicted"), a view can hide a table. labeler's schema has
neither, so any trigger or view is refused on open; connections also run with
``PRAGMA trusted_schema = OFF`` (see :mod:`labeler.store.database`). Stored image paths must stay
inside the images folder, and the meta values must be text.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, func, or_, select, text

from labeler.display import listing, shown
from labeler.errors import ProjectError
from labeler.store.dialects import NotStoredAs
from labeler.store.models import ImageRow
from labeler.store.relpaths import escapes

#: Schema objects labeler's own schema has none of (extra tables and indexes are harmless data).
FORBIDDEN_KINDS = ("trigger", "view")
#: Meta keys read as text by the program.
TEXT_META = ("format", "schema_version", "name", "images_root", "images_root_rel", "created_by", "created_at")


def check_meta_types(target: Path, raw: dict[object, object]) -> dict[str, str]:
    """The meta table as text; a blob or number where text belongs is refused, not a traceback."""
    bad = [str(k) for k, v in raw.items() if not isinstance(k, str) or (k in TEXT_META and not isinstance(v, str))]
    if bad:
        raise ProjectError(f"{target}: damaged labeler project (meta value(s) of the wrong type: {shown(', '.join(bad))})")
    return {k: v if isinstance(v, str) else str(v) for k, v in raw.items()}  # type: ignore[misc]


def check_schema_objects(target: Path, conn: Connection) -> None:
    rows = conn.execute(
        text("SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view') ORDER BY type, name")
    ).all()
    if rows:
        names = [f"{kind} {name!r}" for kind, name in rows]
        raise ProjectError(
            f"{target}: refusing to open this project: it holds unknown {rows[0][0]}(s) that labeler never "
            f"creates and that would run on every edit (someone changed the file):\n{listing(names)}\n"
            "remove them with the sqlite3 tool (DROP TRIGGER / DROP VIEW) if you trust the rest of the file"
        )


def check_image_paths(target: Path | str, conn: Connection) -> None:
    """Every stored image path relative and inside the root (a cheap SQL pre-filter, then the
    same :func:`~labeler.store.relpaths.escapes` every join uses)."""
    path = ImageRow.__table__.c.path
    suspicious = or_(
        NotStoredAs(path, ("text",)),
        path == "",
        path.startswith("/", autoescape=True),
        path.startswith("\\", autoescape=True),
        path.contains("..", autoescape=True),
        func.substr(path, 2, 1) == ":",
    )
    rows = conn.execute(select(ImageRow.__table__.c.id, path).where(suspicious)).all()
    bad = [(i, p) for i, p in rows if not isinstance(p, str) or not p or escapes(p)]
    if bad:
        first_id, first_path = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ProjectError(
            f"{target}: refusing to open this project: image {first_id} has the path {shown(first_path)!r}, "
            f"which leaves the images folder{more}; the project file was altered or damaged"
        )


def check_project_file(target: Path | str, conn: Connection) -> None:
    """Everything above, on one connection (called by ``Project.open`` after the meta checks).
    Triggers and views only on SQLite: a PostgreSQL project's schema is the server's to guard
    (roles, see ``labeler grant``), and it uses triggers of its own for change notification."""
    if conn.dialect.name == "sqlite":
        check_schema_objects(target, conn)
    check_image_paths(target, conn)
