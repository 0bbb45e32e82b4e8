"""A PostgreSQL project schema's whole catalog as comparable rows (the allow-list's input).

Everything in the project's schema that can change what a statement on labeler's tables does is
read, in one query, as ``(kind, name, parent, definition)`` text rows, the definitions rendered by
the server itself (``pg_get_triggerdef``, ``pg_get_constraintdef``, ``pg_get_indexdef``,
``pg_get_functiondef``, ``pg_get_expr``, ``pg_get_viewdef``, ``pg_get_ruledef``), so one object
spelled two ways compares equal and any other difference does not:

- relations (tables, indexes, views, sequences, foreign/partitioned tables): kind, persistence,
  row-level security (enabled / forced), options, inheritance and partitions both ways (a child
  table elsewhere adds rows to every read of its parent), view text, index definition with its
  expressions, predicate and collations, sequence parameters;
- columns: type, NOT NULL, identity, generated expression, collation, default;
- constraints with their actions (``ON DELETE``/``ON UPDATE``, deferrable, NOT VALID);
- triggers (not the internal ones of foreign keys) with whether they fire, rules, policies with
  command, roles and expressions;
- functions and procedures with their full text (SECURITY DEFINER, SET search_path), and the
  names of the schema's other objects (types, operators, collations, text search, statistics,
  extensions) that an unqualified name could resolve to.

Not compared: owners and privileges (``labeler grant`` sets them; they decide who may act, never
what an action does) and comments. Event triggers are database-wide: :data:`EVENT_TRIGGERS_SQL`.

Names are made comparable by :func:`normalise`: the schema's own name as a qualifier (the server
qualifies a name that is outside the connection's search path) is dropped, so a reference built in a
scratch schema compares with any project.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from sqlalchemy import Connection

Row = tuple[str, str, str, str]

_NS = "(SELECT oid FROM pg_namespace WHERE nspname = %(schema)s)"
_T = "coalesce({}::text, '-')"

#: Labels of the catalog columns read below (a refusal names the one that differs).
_LABELS = {
    "c.relkind": "kind", "c.relpersistence": "persistence", "c.relrowsecurity": "row security",
    "c.relforcerowsecurity": "forced row security", "c.reloptions": "options", "c.relispartition": "partition",
    "c.reloftype::regtype": "of type", "c.relam": "access method", "a.attnotnull": "not null",
    "a.attidentity": "identity", "a.attgenerated": "generated", "k.contype": "constraint type",
    "k.condeferrable": "deferrable", "k.condeferred": "deferred", "k.convalidated": "validated",
    "k.confdeltype": "on delete", "k.confupdtype": "on update", "k.conislocal": "local",
    "k.connoinherit": "no inherit", "t.tgenabled": "enabled", "r.ev_enabled": "enabled", "p.polcmd": "command",
    "p.polpermissive": "permissive", "p.prokind": "kind",
}


def _fields(*exprs: str) -> str:
    """Text fields joined by `` | ``, each ``label=value`` where a bare flag would say nothing."""
    return " || ' | ' || ".join(
        (f"'{_LABELS[e]}=' || " if e in _LABELS else "") + _T.format(e) for e in exprs
    )


CATALOG_SQL = f"""
SELECT 'schema', quote_ident(%(schema)s), '', ''
UNION ALL
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'i' THEN 'index' WHEN 'I' THEN 'index' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'view' WHEN 'S' THEN 'sequence' WHEN 'c' THEN 'type' ELSE 'relation' END,
       c.relname, coalesce((SELECT t.relname FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid
                             WHERE x.indexrelid = c.oid), c.relname),
       {_fields("c.relkind", "c.relpersistence", "c.relrowsecurity", "c.relforcerowsecurity", "c.reloptions",
                "c.relispartition", "c.reloftype::regtype", "c.relam",
                "(SELECT string_agg(i.inhparent::regclass::text, ',' ORDER BY i.inhseqno) FROM pg_inherits i WHERE i.inhrelid = c.oid)",
                "(SELECT string_agg(i.inhrelid::regclass::text, ',' ORDER BY 1) FROM pg_inherits i WHERE i.inhparent = c.oid)",
                "CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END",
                "CASE WHEN c.relkind IN ('i', 'I') THEN pg_get_indexdef(c.oid) END",
                "(SELECT concat_ws(' ', s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle) "
                "FROM pg_sequence s WHERE s.seqrelid = c.oid)")}
  FROM pg_class c WHERE c.relnamespace = {_NS}
UNION ALL
SELECT 'column', c.relname || '.' || a.attname, c.relname,
       {_fields("format_type(a.atttypid, a.atttypmod)", "a.attnotnull", "a.attidentity", "a.attgenerated",
                "(SELECT quote_ident(n.nspname) || '.' || quote_ident(l.collname) FROM pg_collation l "
                "JOIN pg_namespace n ON n.oid = l.collnamespace WHERE l.oid = a.attcollation)",
                "(SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum)")}
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = {_NS} AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', coalesce(c.relname, '') || '.' || k.conname, coalesce(c.relname, ''),
       {_fields("k.contype", "k.condeferrable", "k.condeferred", "k.convalidated", "k.confdeltype", "k.confupdtype",
                "k.conislocal", "k.connoinherit", "pg_get_constraintdef(k.oid)")}
  FROM pg_constraint k LEFT JOIN pg_class c ON c.oid = k.conrelid WHERE k.connamespace = {_NS}
UNION ALL
SELECT 'trigger', c.relname || '.' || t.tgname, c.relname, {_fields("t.tgenabled", "pg_get_triggerdef(t.oid)")}
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = {_NS} AND NOT t.tgisinternal
UNION ALL
SELECT 'rule', c.relname || '.' || r.rulename, c.relname, {_fields("r.ev_enabled", "pg_get_ruledef(r.oid)")}
  FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class WHERE c.relnamespace = {_NS}
UNION ALL
SELECT 'policy', c.relname || '.' || p.polname, c.relname,
       {_fields("p.polcmd", "p.polpermissive",
                "(SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(r)) END, ',' ORDER BY 1) "
                "FROM unnest(p.polroles) r)",
                "pg_get_expr(p.polqual, p.polrelid)", "pg_get_expr(p.polwithcheck, p.polrelid)")}
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = {_NS}
UNION ALL
SELECT 'function', p.oid::regprocedure::text, '',
       {_fields("p.prokind", "CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) END")}
  FROM pg_proc p WHERE p.pronamespace = {_NS}
UNION ALL
SELECT 'type', t.typname, '', t.typtype::text FROM pg_type t WHERE t.typnamespace = {_NS}
UNION ALL
SELECT 'operator', o.oid::regoperator::text, '', '' FROM pg_operator o WHERE o.oprnamespace = {_NS}
UNION ALL
SELECT 'collation', l.collname, '', '' FROM pg_collation l WHERE l.collnamespace = {_NS}
UNION ALL
SELECT 'conversion', v.conname, '', '' FROM pg_conversion v WHERE v.connamespace = {_NS}
UNION ALL
SELECT 'operator class', o.opcname, '', '' FROM pg_opclass o WHERE o.opcnamespace = {_NS}
UNION ALL
SELECT 'operator family', o.opfname, '', '' FROM pg_opfamily o WHERE o.opfnamespace = {_NS}
UNION ALL
SELECT 'text search configuration', s.cfgname, '', '' FROM pg_ts_config s WHERE s.cfgnamespace = {_NS}
UNION ALL
SELECT 'text search dictionary', s.dictname, '', '' FROM pg_ts_dict s WHERE s.dictnamespace = {_NS}
UNION ALL
SELECT 'statistics object', s.stxname, '', '' FROM pg_statistic_ext s WHERE s.stxnamespace = {_NS}
UNION ALL
SELECT 'extension', e.extname, '', '' FROM pg_extension e WHERE e.extnamespace = {_NS}
"""

#: Event triggers are database-wide and labeler makes none: any that fires (enabled, not part of an
#: installed extension) could act on the project's tables or on every connection.
EVENT_TRIGGERS_SQL = """
SELECT e.evtname, e.evtevent FROM pg_event_trigger e
 WHERE e.evtenabled <> 'D'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_event_trigger'::regclass
                   AND d.objid = e.oid AND d.deptype = 'e')
 ORDER BY 1"""


#: What ``labeler init`` wrote on PostgreSQL before schema 6 (and migration 0003 assumes): one
#: notify function taking the channel as its argument, a statement trigger on each table. A
#: project of schema 1 to 5 carries them; schema 6 replaces them with the team guards.
LEGACY_NOTIFY_FUNCTION = (
    "CREATE OR REPLACE FUNCTION labeler_notify() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN PERFORM pg_notify(TG_ARGV[0], TG_TABLE_NAME); RETURN NULL; END $$"
)
LEGACY_NOTIFIED_TABLES = ("meta", "keypoint", "skeleton_edge", "flip_pair", "image", "point")


def install_legacy_notify(conn: Connection, schema: str) -> None:
    """The pre-6 notification objects, in the reference's scratch schema (the search path's)."""
    conn.exec_driver_sql(LEGACY_NOTIFY_FUNCTION)
    channel = f"labeler_{schema}".replace("'", "''")
    for table in LEGACY_NOTIFIED_TABLES:
        conn.exec_driver_sql(f"CREATE TRIGGER labeler_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                             f"FOR EACH STATEMENT EXECUTE FUNCTION labeler_notify('{channel}')")


def read_catalog(conn: Connection, schema: str, *, temporary: bool = False) -> list[Row]:
    """The schema's catalog rows (see the module's docstring), names normalised. ``temporary``:
    the reference built in the session's temporary schema, whose relations say so (persistence
    ``t``), not what labeler writes."""
    rows = conn.exec_driver_sql(CATALOG_SQL, {"schema": schema}).all()
    quoted = next(r[1] for r in rows if r[0] == "schema")
    out = []
    for kind, name, parent, definition in rows:
        if kind == "schema":
            continue
        # only what the server rendered: the names built above are the objects' own (a schema
        # may be called "image" too)
        name = normalise(str(name), schema, quoted) if kind == "function" else str(name)
        out.append((str(kind), name, str(parent), normalise(str(definition), schema, quoted)))
    if temporary:  # the server writes the temporary schema as "pg_temp." where it qualifies
        out = [(k, re.sub(r'(?<![\w$"])pg_temp\.', "", n) if k == "function" else n, p, re.sub(r'(?<![\w$"])pg_temp\.', "", d))
               for k, n, p, d in out]
        out = [(k, n, p, _permanent(d)) if k in _RELATION_KINDS else (k, n, p, d) for k, n, p, d in out]
    return out


_RELATION_KINDS = ("table", "index", "view", "sequence", "type", "relation")


def _permanent(definition: str) -> str:
    fields = definition.split(" | ")
    if len(fields) > 2 and fields[1] == "persistence=t":
        fields[1] = "persistence=p"
    return " | ".join(fields)


@contextlib.contextmanager
def temporary_build(conn: Connection) -> Iterator[str]:
    """The session's temporary schema (made if needed), for building the reference without the
    right to create a schema. PostgreSQL never looks functions up there unqualified, so while
    building, ``EXECUTE FUNCTION labeler_...`` is sent as ``EXECUTE FUNCTION pg_temp.labeler_...``
    (the server then renders it qualified, and :func:`normalise` drops the qualifier)."""
    from sqlalchemy import event

    conn.exec_driver_sql("CREATE TEMP TABLE labeler_probe (x int) ON COMMIT DROP")
    conn.exec_driver_sql("DROP TABLE labeler_probe")
    name = conn.exec_driver_sql("SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()").scalar_one()

    def qualify(_conn, _cursor, statement, parameters, _context, _many):  # noqa: ANN001, ANN202
        return re.sub(r"(EXECUTE\s+(?:FUNCTION|PROCEDURE)\s+)(labeler_)", r"\1pg_temp.\2", statement, flags=re.I), parameters

    event.listen(conn, "before_cursor_execute", qualify, retval=True)
    try:
        yield name
    finally:
        event.remove(conn, "before_cursor_execute", qualify)


def normalise(text: str, schema: str, quoted: str) -> str:
    """The schema's name goes where the server wrote it as a qualifier (it qualifies a name outside
    the search path: the same object either way), and becomes ``@`` in the pre-6 channel name."""
    pattern = re.compile(rf"(?<![\w$\"]){re.escape(quoted)}\.")
    channel = "'labeler_" + schema.replace("'", "''") + "'"  # the pre-6 triggers' argument
    return pattern.sub("", text).replace(channel, "'labeler_@'")


def event_triggers(conn: Connection) -> list[tuple[str, str]]:
    return [tuple(r) for r in conn.exec_driver_sql(EVENT_TRIGGERS_SQL).all()]  # type: ignore[misc]


def database_key(conn: Connection) -> str:
    """What the reference depends on here: the server's version and the settings that change what
    a new table looks like in the catalog."""
    return str(conn.exec_driver_sql(
        "SELECT concat_ws('/', current_setting('server_version_num'), current_setting('server_encoding'), "
        "current_setting('default_table_access_method'), (SELECT datcollate FROM pg_database "
        "WHERE datname = current_database()))").scalar_one())
