"""PostgreSQL: what the server itself guarantees in a team project, whatever client connects.

Names. A project's group roles and its change channel are named from a short hash of the
database and the schema (``labeler_<12 hex>_annotator``, channel ``labeler_<12 hex>``), never
from a cut-down schema name, so two projects (or two roles of one project) cannot share a
name however long or alike their schemas are; each group role's COMMENT names its project.

Guards. :func:`install_guards` creates, in the project's schema, the functions, triggers and
row-level security policies below. Their text names no schema and no role (the group roles are
told apart by their privileges), so every project has the very same objects: they are made by
``labeler init`` (and again by ``labeler grant``, for projects made before them), the one code path
that builds a project. The project's admin group owns them; its members, like superusers and
the copies and migrations they run, write rows exactly as given (PostgreSQL lets a table's owner
bypass row-level security, and the triggers step aside for them). For everyone else:

- ``point``: the server sets ``version`` (+1 on every write) and ``annotator`` (the login role,
  ``session_user``; none for predictions). Annotators may change or delete only the points that
  are theirs or nobody's (predictions); reviewers any point.
- ``claim``: the claim is recorded for the login role and lasts at most :data:`MAX_CLAIM_S`;
  another person's unexpired claim cannot be changed or deleted by an annotator.
- ``image``: ``review_status`` is derived by the server from the image's instances' points whenever a
  member changes it (column privileges, in :mod:`labeler.store.roles`, limit the rest).
- ``instance``: ``review_status`` is derived by the server from the instance's points (a new one
  is unlabeled). An object holding another person's confirmed points may not be deleted (its
  points would go with it, by the foreign key's cascade, which row security does not see),
  renamed, re-boxed or moved to another image by an annotator; reviewers may.

Functions run with ``search_path = pg_catalog, pg_temp`` and reach the project's tables through
the trigger's own schema, so no one can slip in a table or function of their own.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, text

#: How many hex digits of SHA-256 name a project's roles and channel (48 bits).
KEY_CHARS = 12
#: The longest a claim may last when written by a non-admin (the client renews every few minutes).
MAX_CLAIM_S = 3600
#: Tables whose changes other windows must see (the cache is derived data: no notification).
NOTIFIED_TABLES = ("meta", "keypoint", "skeleton_edge", "flip_pair", "image", "instance", "point", "claim")
GROUPS = ("annotator", "reviewer", "admin")


def project_key(database: str, schema: str) -> str:
    """The short hash naming a project (the same as :data:`_SQL_KEY` computes on the server)."""
    return hashlib.sha256(f"{database}\n{schema}".encode()).hexdigest()[:KEY_CHARS]


def group_role(database: str, schema: str, role: str) -> str:
    return f"labeler_{project_key(database, schema)}_{role}"


def channel(database: str, schema: str) -> str:
    """The LISTEN/NOTIFY channel of a project's changes."""
    return f"labeler_{project_key(database, schema)}"


def legacy_channel(schema: str) -> str:
    """The channel of projects made before the hashed names (their triggers may still use it)."""
    return f"labeler_{schema}"


def role_comment(database: str, schema: str, role: str) -> str:
    return f"labeler: the {role}s of project {schema!r} in database {database!r}"


_SQL_KEY = f"left(encode(sha256(convert_to(current_database() || E'\\n' || TG_TABLE_SCHEMA, 'UTF8')), 'hex'), {KEY_CHARS})"
#: True for the project's admins (members of the table's owner) and superusers.
_SQL_IS_ADMIN = "pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE')"
#: In a policy: a reviewer (or admin), told by the privilege only reviewers get. The regclass is
#: resolved once, when the policy is made, so a search_path cannot point it elsewhere.
_SQL_REVIEWS = "has_column_privilege('image'::regclass, 'pred_method', 'UPDATE')"
_HEADER = "RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS"

FUNCTIONS = {
    "labeler_notify": f"""
BEGIN
    PERFORM pg_notify('labeler_' || {_SQL_KEY}, TG_TABLE_NAME);
    RETURN NULL;
END""",
    "labeler_point_guard": f"""
BEGIN
    IF {_SQL_IS_ADMIN} THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        NEW.version := 1;
    ELSE
        NEW.version := OLD.version + 1;
    END IF;
    IF NEW.status = 'predicted' THEN
        NEW.annotator := NULL;
    ELSE
        NEW.annotator := session_user;
    END IF;
    RETURN NEW;
END""",
    "labeler_claim_guard": f"""
BEGIN
    IF {_SQL_IS_ADMIN} THEN
        RETURN NEW;
    END IF;
    NEW."user" := session_user;
    NEW.expires_at := least(NEW.expires_at, extract(epoch FROM clock_timestamp()) + {MAX_CLAIM_S});
    RETURN NEW;
END""",
    "labeler_image_guard": f"""
BEGIN
    IF {_SQL_IS_ADMIN} OR NEW.review_status IS NOT DISTINCT FROM OLD.review_status THEN
        RETURN NEW;
    END IF;
    -- per instance as store.core.recompute_review: each instance's status from its points, then
    -- the image's from its instances'
    EXECUTE format(
        'SELECT CASE WHEN bool_or(s = ''predicted'') THEN ''predicted'' '
        '            WHEN count(*) > 0 AND bool_and(s = ''reviewed'') THEN ''reviewed'' '
        '            WHEN bool_or(s <> ''unlabeled'') THEN ''partial'' ELSE ''unlabeled'' END '
        'FROM (SELECT CASE WHEN count(p.status) FILTER (WHERE p.status = ''predicted'') > 0 THEN ''predicted'' '
        '                  WHEN k.n > 0 AND count(p.status) >= k.n THEN ''reviewed'' '
        '                  WHEN count(p.status) > 0 THEN ''partial'' ELSE ''unlabeled'' END AS s '
        '      FROM %1$I.instance i LEFT JOIN %1$I.point p ON p.instance_id = i.id, '
        '           (SELECT count(*) AS n FROM %1$I.keypoint) k '
        '      WHERE i.image_id = $1 GROUP BY i.id, k.n) per', TG_TABLE_SCHEMA)
    INTO NEW.review_status USING NEW.id;
    RETURN NEW;
END""",
    "labeler_instance_guard": f"""
DECLARE
    others text;
BEGIN
    IF {_SQL_IS_ADMIN} THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'INSERT' THEN
        NEW.review_status := 'unlabeled';  -- no point can be in it yet
        RETURN NEW;
    END IF;
    -- an object holding someone else's confirmed points is theirs too: an annotator may not
    -- delete it (its points would go with it) nor rename, re-box or move it
    IF (TG_OP = 'DELETE' OR (NEW.image_id, NEW.name, NEW.box_x, NEW.box_y, NEW.box_w, NEW.box_h, NEW.box_source)
                            IS DISTINCT FROM (OLD.image_id, OLD.name, OLD.box_x, OLD.box_y, OLD.box_w, OLD.box_h, OLD.box_source))
       AND NOT has_column_privilege(format('%I.image', TG_TABLE_SCHEMA), 'pred_method', 'UPDATE') THEN
        EXECUTE format('SELECT string_agg(DISTINCT annotator, '', '') FROM %I.point '
                       'WHERE instance_id = $1 AND annotator IS NOT NULL AND annotator <> session_user', TG_TABLE_SCHEMA)
        INTO others USING OLD.id;
        IF others IS NOT NULL THEN
            RAISE EXCEPTION 'your database role may not % an object holding points % confirmed', lower(TG_OP), others
                USING ERRCODE = 'insufficient_privilege', HINT = 'a reviewer or admin can';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF NEW.review_status IS DISTINCT FROM OLD.review_status THEN  -- derived, as store.core.recompute_review
        EXECUTE format(
            'SELECT CASE WHEN count(p.status) FILTER (WHERE p.status = ''predicted'') > 0 THEN ''predicted'' '
            '            WHEN k.n > 0 AND count(p.status) >= k.n THEN ''reviewed'' '
            '            WHEN count(p.status) > 0 THEN ''partial'' ELSE ''unlabeled'' END '
            'FROM (SELECT count(*) AS n FROM %1$I.keypoint) k LEFT JOIN %1$I.point p ON p.instance_id = $1 '
            'GROUP BY k.n', TG_TABLE_SCHEMA)
        INTO NEW.review_status USING NEW.id;
    END IF;
    RETURN NEW;
END""",
}

_MINE_OR_REVIEWER = {
    "point": f"annotator IS NULL OR annotator = session_user OR {_SQL_REVIEWS}",
    "claim": f"\"user\" = session_user OR expires_at < extract(epoch FROM clock_timestamp()) OR {_SQL_REVIEWS}",
}

TRIGGERS = (
    *((f"labeler_notify ON {t}", f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} FOR EACH STATEMENT "
       "EXECUTE FUNCTION labeler_notify()") for t in NOTIFIED_TABLES),
    ("labeler_guard ON point", "BEFORE INSERT OR UPDATE ON point FOR EACH ROW EXECUTE FUNCTION labeler_point_guard()"),
    ("labeler_guard ON claim", "BEFORE INSERT OR UPDATE ON claim FOR EACH ROW EXECUTE FUNCTION labeler_claim_guard()"),
    ("labeler_guard ON image", "BEFORE UPDATE ON image FOR EACH ROW EXECUTE FUNCTION labeler_image_guard()"),
    ("labeler_guard ON instance",
     "BEFORE INSERT OR UPDATE OR DELETE ON instance FOR EACH ROW EXECUTE FUNCTION labeler_instance_guard()"),
)


def run_plain(conn: Connection, sql: str) -> None:
    """Run SQL holding ``%`` (format() patterns) as it is: psycopg reads ``%`` as a placeholder
    whenever parameters are passed, which SQLAlchemy always does."""
    conn.connection.driver_connection.execute(sql)


def install_guards(conn: Connection) -> None:
    """Create (or bring up to date) the project's functions, triggers and policies, in the
    schema of the connection's search path. Run by the table owner (init, grant)."""
    for name, body in FUNCTIONS.items():
        run_plain(conn, f"CREATE OR REPLACE FUNCTION {name}() {_HEADER} $${body}\n$$")
    present = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars())
    for name_on, definition in TRIGGERS:
        name, table = name_on.split(" ON ")
        if table not in present:  # an older revision's upgrade, before a later one adds the table
            continue
        conn.execute(text(f"DROP TRIGGER IF EXISTS {name_on}"))
        conn.execute(text(f"CREATE TRIGGER {name} {definition}"))
    for table, mine in _MINE_OR_REVIEWER.items():
        conn.execute(text(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
        policies = {
            "labeler_read": "FOR SELECT USING (true)",
            "labeler_add": "FOR INSERT WITH CHECK (true)",
            "labeler_change": f"FOR UPDATE USING ({mine}) WITH CHECK (true)",
            "labeler_remove": f"FOR DELETE USING ({mine})",
        }
        for policy, clause in policies.items():
            conn.execute(text(f"DROP POLICY IF EXISTS {policy} ON {table}"))
            conn.execute(text(f"CREATE POLICY {policy} ON {table} {clause}"))


def transfer_guards(conn: Connection, schema_sql: str, owner_sql: str) -> None:
    """Hand the guard functions to the project's admin group (quoted names)."""
    for name in FUNCTIONS:
        conn.execute(text(f"ALTER FUNCTION {schema_sql}.{name}() OWNER TO {owner_sql}"))


#: The writer lock, taken at the start of every write transaction: LOCK TABLE on the project's
#: ``point`` table, which only roles with a write privilege on it (the project's members) may take.
#: SHARE ROW EXCLUSIVE conflicts with itself and with row writes, never with plain reads. One
#: round trip (simple query protocol: three statements), a bounded wait.
def write_lock_sql(wait_s: float) -> str:
    ms = max(1, int(wait_s * 1000))
    return (f"SET LOCAL lock_timeout = {ms}; LOCK TABLE point IN SHARE ROW EXCLUSIVE MODE; "
            "SET LOCAL lock_timeout = DEFAULT")


#: Who holds a project's writer lock, or a lock on any of its tables that stalls readers (asked
#: on a connection of its own after a timed-out wait).
HOLDERS_SQL = """
SELECT string_agg(DISTINCT format('%%s (%%s, pid %%s%%s)', a.usename,
                  coalesce(nullif(a.application_name, ''), 'unknown program'), a.pid,
                  -- another role's transaction start is hidden from non-superusers
                  coalesce(', in a transaction since ' || to_char(a.xact_start AT TIME ZONE 'UTC', 'HH24:MI:SS "UTC"'), '')),
                  ', ')
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.granted AND a.pid <> pg_backend_pid()
   AND ((l.relation = to_regclass(%(point)s)
         AND l.mode IN ('RowExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock',
                        'AccessExclusiveLock', 'ShareUpdateExclusiveLock'))
        OR (l.mode = 'AccessExclusiveLock'  -- what stalls readers of any of its tables
            AND l.relation IN (SELECT c.oid FROM pg_class c WHERE c.relnamespace = to_regnamespace(%(schema)s))))"""
