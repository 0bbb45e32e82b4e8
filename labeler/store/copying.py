"""``labeler copy SRC DST``: a whole project from one location to another, either backend.

Rows keep their ids (points reference images and keypoints by id), so the copy is the same
project: images registry, schema, points with status/confidence/provenance, reference cache.
Rows only: the target is a new project created by labeler, so nothing of the source's SQL
schema (a trigger, a foreign-key action, a default someone added) comes along; that is how a
file refused for its schema is salvaged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, insert, select

from labeler.errors import ProjectError
from labeler.store.dialects import backend
from labeler.store.models import Base, MetaRow
from labeler.redaction import redact
from labeler.store.location import is_url, parse_url
from labeler.store.project import Project
from labeler.store.schema_reference import SchemaRefused

#: Meta keys the new project writes itself (where it is, when and by what it was made).
_OWN_META = {"format", "schema_version", "created_by", "created_at", "images_root", "images_root_rel"}
_CHUNK = 5000


@dataclass(frozen=True)
class CopyReport:
    source: str
    target: str
    rows: dict[str, int]
    #: For a PostgreSQL project replaced in place: what became of its team's rights.
    team: str | None = None


def copy_project(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    images_root: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> CopyReport:
    """Copy ``source`` to ``target`` (refused if a project is there, unless ``force``).

    The target's images root is ``images_root``, else the source's. Everything is written in
    one transaction of the target: a failure leaves it empty of rows, never half-copied.
    """
    if _same(source, target):
        raise ProjectError(f"{redact(os.fspath(target))} is the project being copied; give another place to copy it to")
    # the source is only read (SELECT runs none of a file's triggers), so a file refused for its
    # schema can be salvaged: its rows go into a new project made by labeler, never its schema
    try:
        opened = Project.open(source)
    except SchemaRefused:
        opened = Project.open(source, salvage=True)
    with opened as src:
        root = Path(images_root) if images_root is not None else src.images_root
        if not root.is_dir():
            raise ProjectError(
                f"the images folder {root} is not on this machine; give --images-root with its path here"
            )
        with Project.create(target, root, name=src.name, force=force) as dst:
            counts = _copy_rows(src, dst)
            report = CopyReport(source=src.display, target=dst.display, rows=counts)
    if force and is_url(target):
        from labeler.store.roles import restore_grants

        report = CopyReport(report.source, report.target, report.rows, team=restore_grants(str(target)))
    return report


def _same(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    if is_url(a) and is_url(b):
        pa, pb = parse_url(str(a)), parse_url(str(b))
        strip = {"connect_timeout"}
        key = lambda p: (p.url.set(password=None, query={k: v for k, v in p.url.query.items() if k not in strip}), p.schema)  # noqa: E731
        return key(pa) == key(pb)
    if is_url(a) or is_url(b):
        return False
    return Path(a).resolve() == Path(b).resolve()


def _copy_rows(src: Project, dst: Project) -> dict[str, int]:
    tables = [t for t in Base.metadata.sorted_tables if t.name != "meta"]
    counts: dict[str, int] = {}
    with src._engine.connect() as read, dst._engine.execution_options(labeler_write=True).begin() as write:
        if read.dialect.name == "postgresql":
            read = read.execution_options(isolation_level="REPEATABLE READ")
        read.begin()  # one consistent snapshot of the source while others keep working
        for table in reversed(tables):
            write.execute(delete(table))
        meta = {k: v for k, v in read.execute(select(MetaRow.key, MetaRow.value)) if k not in _OWN_META}
        for key, value in meta.items():
            write.execute(delete(MetaRow.__table__).where(MetaRow.key == key))
            write.execute(insert(MetaRow.__table__).values(key=key, value=value))
        for table in tables:
            n = 0
            result = read.execution_options(yield_per=_CHUNK).execute(select(table).order_by(*table.primary_key.columns))
            for chunk in result.mappings().partitions(_CHUNK):
                write.execute(insert(table), [dict(r) for r in chunk])
                n += len(chunk)
            counts[table.name] = n
        backend(write.dialect.name).after_bulk_copy(write, tables)
    return counts
