"""What differs between SQLite and PostgreSQL, one small module per backend.

The rest of the store writes one SQLAlchemy statement for both: the constructs here compile
to each backend's own SQL (``IN`` over a JSON array, upserts), and :func:`backend` gives the
module holding a backend's engine, locking and change notification.
"""

from __future__ import annotations

from types import ModuleType

from sqlalchemy import ColumnElement, Table
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import BindParameter
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType


class InJsonArray(ColumnElement[bool]):
    """``column [NOT] IN (the elements of a JSON array)``: one bound parameter however many
    values (SQLite caps the number of parameters; executemany can bind one list per row)."""

    inherit_cache = False  # its own cache key, from the traversal below
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("param", InternalTraversal.dp_clauseelement),
        ("negate", InternalTraversal.dp_boolean),
    ]
    type = NullType()  # not Boolean: SQLite would compare the IN with "= 1" and lose its index

    def __init__(self, column: ColumnElement, param: BindParameter, *, negate: bool = False) -> None:
        self.column = column
        self.param = param
        self.negate = negate


class NotStoredAs(ColumnElement[bool]):
    """True where a column holds a value of another kind than ``kinds`` (SQLite storage classes:
    "integer", "real", "text", "blob"). SQLite's columns take any value from a file someone else
    wrote; PostgreSQL's typed columns cannot, so there it is false."""

    inherit_cache = False
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("kinds", InternalTraversal.dp_string_list),
    ]
    type = NullType()

    def __init__(self, column: ColumnElement, kinds: tuple[str, ...]) -> None:
        self.column = column
        self.kinds = list(kinds)


def insert(s: Session, table: Table):  # noqa: ANN201 - a dialect Insert with on_conflict_do_*
    """The backend's ``INSERT`` (both have ``on_conflict_do_update(..., where=...)``)."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def backend(name: str) -> ModuleType:
    if name == "postgresql":
        from labeler.store.dialects import postgresql

        return postgresql
    from labeler.store.dialects import sqlite

    return sqlite


# Register SQLite's compilation of the shared constructs (PostgreSQL's registers when its module
# is imported, which every PostgreSQL engine does: psycopg is loaded only for database projects).
from labeler.store.dialects import sqlite as _sqlite  # noqa: E402,F401
