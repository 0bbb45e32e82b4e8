"""An SQLite file's whole schema as comparable values: every ``sqlite_master`` row, its SQL
reduced to tokens, plus the header fields labeler sets.

SQLite builds tables, indexes, triggers and views from the SQL text stored in ``sqlite_master``
(whatever its ``type`` column says), so that text is what must equal labeler's. Two spellings
of one schema must compare equal: a column added by ``ALTER TABLE ... ADD COLUMN`` (a
migration) lands at the end of the column list with its CHECK written on the column, while
``create_all`` writes it in model order with a table-level CHECK. So a table is compared as
the *multiset* of its items (columns and table constraints, a column's CHECK lifted to a table
item) with whitespace, comments and keyword case dropped. Nothing else is dropped: any other
difference (a conflict clause, a foreign-key action, a default, a collation, a type, a
generated column, WITHOUT ROWID/STRICT) leaves the two values unequal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Connection

Token = tuple[str, str]

_TOKEN = re.compile(
    r"""
    (?P<space>[\ \t\n\f\r]+)
  | (?P<comment>--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))
  | (?P<str>'(?:[^']|'')*')
  | (?P<blob>[xX]'[^']*')
  | (?P<qid>"(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`)
  | (?P<num>0[xX][0-9A-Fa-f]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*)
  | (?P<var>[?:@$][A-Za-z0-9_]*)
  | (?P<op>->>|->|\|\||<<|>>|<=|>=|==|!=|<>|[-+*/%&|~<>=(),.;])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

#: Column-constraint keywords that start a new piece of a column definition.
_PIECE_START = {"CONSTRAINT", "PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK", "DEFAULT", "COLLATE", "REFERENCES", "GENERATED", "AS"}
_TABLE_CONSTRAINT = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"}


def _upper(word: str) -> str:
    """ASCII letters upper-cased, as SQLite folds names ("ſ".upper() is "S" in Python)."""
    return word.encode("utf-8", "surrogatepass").upper().decode("utf-8", "surrogatepass")


def tokens(sql: str) -> tuple[Token, ...]:
    """SQLite's tokens of ``sql``: keywords and bare names upper-cased (ASCII, as SQLite folds),
    whitespace (SQLite's five: space, tab, newline, form feed, carriage return; not Python's
    whitespace class, which also takes U+00A0 and the like, letters of a name to SQLite) and
    comments gone, quoted names and literals kept exactly as written (an unknown character is a
    token of its own)."""
    out: list[Token] = []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup or "other"
        if kind in ("space", "comment"):
            continue
        text = m.group()
        if kind == "word":
            text = _upper(text)
        # a quoted name stays a token of its own kind, never folded into a bare word: SQLite
        # reads "NULL" where no column of that name exists as the string 'NULL', not NULL
        out.append((kind, text))
    return tuple(out)


def _split_top(toks: tuple[Token, ...]) -> list[tuple[Token, ...]]:
    """Split at commas outside parentheses."""
    items: list[list[Token]] = [[]]
    depth = 0
    for tok in toks:
        if tok == ("op", "("):
            depth += 1
        elif tok == ("op", ")"):
            depth -= 1
        if tok == ("op", ",") and depth == 0:
            items.append([])
        else:
            items[-1].append(tok)
    return [tuple(i) for i in items]


def _pieces(rest: tuple[Token, ...]) -> list[tuple[Token, ...]]:
    """A column definition's type and constraints, one piece each (``CONSTRAINT name`` joins the
    piece after it; NOT NULL, SET NULL, SET DEFAULT, NOT DEFERRABLE, GENERATED ALWAYS AS stay whole)."""
    pieces: list[tuple[Token, ...]] = []
    cur: list[Token] = []
    depth = 0
    for i, tok in enumerate(rest):
        word = tok[1] if tok[0] == "word" else None
        if depth == 0 and word in _PIECE_START and cur:
            joined = (
                (word == "NULL" and cur[-1] in (("word", "NOT"), ("word", "SET")))
                or (word == "DEFAULT" and cur[-1] == ("word", "SET"))
                or (word == "NOT" and i + 1 < len(rest) and rest[i + 1] == ("word", "DEFERRABLE"))
                or (word == "AS" and cur[0] == ("word", "GENERATED"))
                or (cur[0] == ("word", "CONSTRAINT") and len(cur) == 2)
            )
            if not joined:
                pieces.append(tuple(cur))
                cur = []
        cur.append(tok)
        if tok == ("op", "("):
            depth += 1
        elif tok == ("op", ")"):
            depth -= 1
    if cur:
        pieces.append(tuple(cur))
    return pieces


def _is_check(piece: tuple[Token, ...]) -> bool:
    if piece[0] == ("word", "CONSTRAINT"):
        return len(piece) > 2 and piece[2] == ("word", "CHECK")
    return piece[0] == ("word", "CHECK")


def canonical_table(sql: str) -> tuple:
    """A CREATE TABLE statement as (header, sorted items, options); see the module's docstring."""
    toks = tokens(sql)
    try:
        start = toks.index(("op", "("))
    except ValueError:
        return ("unparsed", toks)
    depth = 0
    end = None
    for i in range(start, len(toks)):
        if toks[i] == ("op", "("):
            depth += 1
        elif toks[i] == ("op", ")"):
            depth -= 1
            if depth == 0:
                end = i
                break
    if end is None:
        return ("unparsed", toks)
    items: list[tuple] = []
    for item in _split_top(toks[start + 1 : end]):
        if not item:
            items.append(("empty",))
        elif item[0][0] == "word" and item[0][1] in _TABLE_CONSTRAINT:
            items.append(("constraint", item))
        else:
            kept = []
            for piece in _pieces(item[1:]):
                (items.append(("constraint", piece)) if _is_check(piece) else kept.append(piece))
            items.append(("column", item[0], tuple(kept)))
    return (toks[:start], tuple(sorted(items)), toks[end + 1 :])


@dataclass(frozen=True)
class SchemaObject:
    """One ``sqlite_master`` row, its SQL in canonical form."""

    type: str
    name: str
    table: str
    sql: object

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.name)


def canonical_object(kind: str, name: str, table: str, sql: str | None) -> SchemaObject:
    if sql is None:  # an automatic index (PRIMARY KEY/UNIQUE): compared through its table
        auto = name.startswith("sqlite_autoindex_")
        return SchemaObject(kind, "sqlite_autoindex" if auto else name, table, None)
    text = sql if isinstance(sql, str) else repr(sql)
    return SchemaObject(kind, name, table, canonical_table(text) if kind == "table" else tokens(text))


#: Header fields of the file labeler compares (``PRAGMA`` names; each changes nothing unless
#: labeler set it, so any other value means someone else edited the file).
HEADER_PRAGMAS = ("application_id", "user_version")

#: Tables SQLite itself makes with fixed SQL (statistics from ANALYZE): data for the planner only.
SQLITE_OWN = {
    "sqlite_stat1": "CREATE TABLE sqlite_stat1(tbl,idx,stat)",
    "sqlite_stat4": "CREATE TABLE sqlite_stat4(tbl,idx,neq,nlt,ndlt,sample)",
}


Row = tuple[str, str, str, "str | None"]


def read_rows(conn: Connection) -> tuple[list[Row], dict[str, int]]:
    """Every row of the file's ``sqlite_master`` as text, and the header pragmas (nothing of the
    file runs)."""
    rows = conn.exec_driver_sql("SELECT type, name, tbl_name, sql FROM main.sqlite_master").all()
    out: list[Row] = []
    for kind, name, table, sql in rows:
        kind, name, table = (v if isinstance(v, str) else repr(v) for v in (kind, name, table))
        out.append((kind, name, table, sql if sql is None or isinstance(sql, str) else repr(sql)))
    header = {p: int(conn.exec_driver_sql(f"PRAGMA main.{p}").scalar_one()) for p in HEADER_PRAGMAS}
    return out, header


def canonical_objects(rows: list[Row]) -> list[SchemaObject]:
    return [canonical_object(*row) for row in rows if not (row[0] == "table" and SQLITE_OWN.get(row[1]) == row[3])]


def read_schema(conn: Connection) -> tuple[list[SchemaObject], dict[str, int]]:
    """The file's schema in canonical form, and its header pragmas."""
    rows, header = read_rows(conn)
    return canonical_objects(rows), header


def iter_items(obj: SchemaObject) -> Iterator[object]:
    """A table's items (for naming the first difference)."""
    if obj.type == "table" and isinstance(obj.sql, tuple) and len(obj.sql) == 3:
        yield from obj.sql[1]
