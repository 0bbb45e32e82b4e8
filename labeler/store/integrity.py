"""What a project file from someone else is checked for before labeler uses it.

A project is an SQLite file, and SQLite files can carry behaviour in their schema; the schema is
compared with labeler's own, exactly (:mod:`labeler.store.schema_reference`), and connections run
with ``PRAGMA trusted_schema = OFF`` (see :mod:`labeler.store.database`). Stored image paths must stay
inside the images folder, and the meta values must be text.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, func, or_, select, text

from labeler.display import shown
from labeler.errors import ProjectError
from labeler.store.dialects import NotStoredAs
from labeler.store.models import ImageRow
from labeler.store.relpaths import escapes

#: Meta keys read as text by the program.
TEXT_META = ("format", "schema_version", "name", "images_root", "images_root_rel", "created_by", "created_at")


def check_meta_types(target: Path, raw: dict[object, object]) -> dict[str, str]:
    """The meta table as text; a blob or number where text belongs is refused, not a traceback."""
    bad = [str(k) for k, v in raw.items() if not isinstance(k, str) or (k in TEXT_META and not isinstance(v, str))]
    if bad:
        raise ProjectError(f"{target}: damaged labeler project (meta value(s) of the wrong type: {shown(', '.join(bad))})")
    return {k: v if isinstance(v, str) else str(v) for k, v in raw.items()}  # type: ignore[misc]


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
    """Everything above, on one connection (called by ``Project.open`` after the meta checks;
    the schema itself is compared with labeler's before, by
    :func:`labeler.store.schema_reference.check_sqlite_schema`)."""
    check_image_paths(target, conn)
