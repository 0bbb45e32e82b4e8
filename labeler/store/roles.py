"""``labeler grant``: who may do what in a PostgreSQL project, enforced by the database.

Each project schema has three group roles (NOLOGIN), ``labeler_<schema>_annotator``,
``_reviewer`` and ``_admin``; granting puts a login role in exactly one of them:

- annotator: read everything; place, move, accept and delete points (and the review status
  they update), claim images, write the derived cache. No schema change, no images added or
  removed, nothing dropped.
- reviewer: an annotator who may also propagate (write the images' prediction records).
- admin: owns the schema and its tables: everything, including ALTER and DROP.

Run it as the database owner or a superuser (it creates roles and changes ownership).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import inspect, text

from labeler.errors import UserInputError
from labeler.store.dialects.postgresql import make_engine, quote
from labeler.store.location import PgLocation, is_url, parse_url
from labeler.store.project import _database_errors

ROLES = ("annotator", "reviewer", "admin")
#: Tables an annotator may change rows of (points; the claims of images being labelled).
_ANNOTATOR_ROWS = ("instance", "point", "claim", "cache")


@dataclass(frozen=True)
class GrantReport:
    user: str
    role: str
    group: str
    created: bool


def group_role(location: PgLocation, role: str) -> str:
    return f"labeler_{location.schema}_{role}"[:63]


def grant(location: str, user: str, role: str, *, password: str | None = None) -> GrantReport:
    """Create or update login role ``user`` with ``role`` on the project at ``location``."""
    if not is_url(location):
        raise UserInputError("grant works on PostgreSQL projects (postgresql://...); a project file has no roles")
    if role not in ROLES:
        raise UserInputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not user or len(user) > 63 or "\x00" in user:
        raise UserInputError(f"{user!r} is not a valid role name (1 to 63 characters)")
    where = parse_url(location)
    engine = make_engine(where)
    try:
        with _database_errors(where), engine.begin() as conn:
            tables = set(inspect(conn).get_table_names(schema=where.schema))
            if "meta" not in tables:
                raise UserInputError(f"{where.display}: no labeler project there (create one with `labeler init`)")
            groups = {r: group_role(where, r) for r in ROLES}
            for name in groups.values():
                exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
                if not exists:
                    conn.execute(text(f"CREATE ROLE {quote(name)} NOLOGIN"))
            _grant_privileges(conn, where, groups, sorted(tables))
            created = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": user}).first() is None
            if created:
                conn.execute(text(f"CREATE ROLE {quote(user)} LOGIN"))
            if password is not None:
                conn.execute(text(f"ALTER ROLE {quote(user)} PASSWORD {_literal(password)}"))
            for name in groups.values():
                conn.execute(text(f"REVOKE {quote(name)} FROM {quote(user)}"))
            conn.execute(text(f"GRANT {quote(groups[role])} TO {quote(user)}"))
    finally:
        engine.dispose()
    return GrantReport(user=user, role=role, group=groups[role], created=created)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _grant_privileges(conn, where: PgLocation, groups: dict[str, str], tables: list[str]) -> None:  # noqa: ANN001
    schema = quote(where.schema)
    annotator, reviewer, admin = (quote(groups[r]) for r in ROLES)
    qualified = [f"{schema}.{quote(t)}" for t in tables]
    for group in (annotator, reviewer):
        conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {group}"))
        conn.execute(text(f"GRANT SELECT ON {', '.join(qualified)} TO {group}"))
        for t in _ANNOTATOR_ROWS:
            if t in tables:
                conn.execute(text(f"GRANT INSERT, UPDATE, DELETE ON {schema}.{quote(t)} TO {group}"))
        conn.execute(text(f"GRANT UPDATE (review_status) ON {schema}.image TO {group}"))
    conn.execute(text(f"GRANT UPDATE ON {schema}.image TO {reviewer}"))
    # admin: owns everything in the schema (ALTER and DROP need ownership in PostgreSQL)
    conn.execute(text(f"ALTER SCHEMA {schema} OWNER TO {admin}"))
    for q in qualified:
        conn.execute(text(f"ALTER TABLE {q} OWNER TO {admin}"))
    conn.execute(text(f"ALTER FUNCTION {schema}.labeler_notify() OWNER TO {admin}"))
