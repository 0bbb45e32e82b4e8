"""SQLite: one project file (the default backend).

Connections, IMMEDIATE write transactions and the ``PRAGMA data_version`` change poll live in
:mod:`labeler.store.database`; this module adds SQLite's compilation of the shared constructs.
"""

from __future__ import annotations

from sqlalchemy.ext.compiler import compiles

from labeler.store.database import ChangePoller, Sessions, make_engine
from labeler.store.dialects import InJsonArray, NotStoredAs

__all__ = ["ChangePoller", "Sessions", "make_engine"]


@compiles(InJsonArray, "sqlite")
def _in_json_array(element: InJsonArray, compiler, **kw) -> str:  # noqa: ANN001 - a SQLCompiler
    op = "NOT IN" if element.negate else "IN"
    column = compiler.process(element.column, **kw)
    return f"{column} {op} (SELECT value FROM json_each({compiler.process(element.param, **kw)}))"


@compiles(NotStoredAs, "sqlite")
def _not_stored_as(element: NotStoredAs, compiler, **kw) -> str:  # noqa: ANN001
    kinds = ", ".join(f"'{k}'" for k in element.kinds)  # storage class names, never user input
    return f"typeof({compiler.process(element.column, **kw)}) NOT IN ({kinds})"


def after_bulk_copy(conn, tables) -> None:  # noqa: ANN001
    """Nothing to do: SQLite's next rowid follows the largest one copied in."""
