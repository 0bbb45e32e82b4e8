"""``labeler grant``: who may do what in a PostgreSQL project, enforced by the database.

Each project has three group roles (NOLOGIN), ``labeler_<hash>_annotator``, ``_reviewer`` and
``_admin``, named from a hash of the database and schema (see
:mod:`labeler.store.dialects.postgresql_team`, which also holds the triggers and row-level
security policies); granting puts a login role in exactly one of them. Privileges are an
allow-list, column by column (:data:`MATRIX` and the README's table):

- annotator: read everything; place, move, accept and delete their own points and predictions,
  claim images for themselves, set an image's flag, write the derived cache. No schema change,
  no images added or removed, nothing dropped; the server records who and sets the versions.
- reviewer: an annotator who may also propagate (write the images' prediction records) and
  change or delete anyone's points and claims.
- admin: owns the schema and its tables: everything, including ALTER and DROP.

Run it as the database owner (a managed server's owner with CREATEROLE is enough) or a superuser.
A password is sent as a SCRAM-SHA-256 verifier computed here (libpq's PQencryptPasswordConn),
never in clear text, so no server log can hold it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import bindparam, inspect, text
from sqlalchemy.exc import DBAPIError

from labeler.errors import UserInputError
from labeler.store.dialects.postgresql import make_engine, quote
from labeler.store.dialects.postgresql_team import GROUPS, group_role, install_guards, role_comment, transfer_guards
from labeler.store.location import PgLocation, is_url, parse_url
from labeler.store.project import _database_errors

ROLES = GROUPS
#: What each group may change (beyond SELECT on every table): table -> privileges, "(columns)"
#: for column privileges. Rows of point and claim are further limited by row-level security.
_IMAGE_OBSERVED = "missing, changed, mtime_ns"  # facts any client's file check observes
_IMAGE_PREDICTION = "pred_signature, pred_method, pred_model, pred_preset, pred_flipped, predicted_at"
MATRIX = {
    "annotator": {
        "instance": "INSERT, UPDATE, DELETE",
        "point": "INSERT, UPDATE, DELETE",
        "claim": "INSERT, UPDATE, DELETE",
        "cache": "INSERT, UPDATE, DELETE",
        "image": f"UPDATE (review_status, flag, {_IMAGE_OBSERVED})",
    },
    "reviewer": {
        "instance": "INSERT, UPDATE, DELETE",
        "point": "INSERT, UPDATE, DELETE",
        "claim": "INSERT, UPDATE, DELETE",
        "cache": "INSERT, UPDATE, DELETE",
        "image": f"UPDATE (review_status, flag, {_IMAGE_OBSERVED}, {_IMAGE_PREDICTION})",
    },
}
#: Names PostgreSQL or labeler keep for themselves: never a person.
_RESERVED = re.compile(r"^(pg_.*|postgres|public|none|current_user|session_user|current_role|labeler_.*_(annotator|reviewer|admin))$",
                       re.IGNORECASE)


@dataclass(frozen=True)
class GrantReport:
    user: str
    role: str
    group: str
    created: bool


def check_person_name(user: object) -> str:
    """A login name for a person: 1-63 printable characters, not one PostgreSQL or labeler keeps."""
    if not isinstance(user, str) or not user or len(user.encode()) > 63:
        raise UserInputError(f"{user!r} is not a valid role name (1 to 63 bytes)")
    if any(unicodedata.category(c).startswith("C") for c in user):
        raise UserInputError(f"{user!r} is not a valid role name (it holds control or invisible characters)")
    if _RESERVED.match(user):
        raise UserInputError(f"{user!r} is a role PostgreSQL or labeler keeps for itself, not a person's")
    return user


def check_password(password: str | None) -> None:
    if password is not None and (not password or any(unicodedata.category(c) == "Cc" for c in password)):
        raise UserInputError("the password is empty or holds control characters; nothing was changed")


def grant(location: str, user: str, role: str, *, password: str | None = None) -> GrantReport:
    """Create or update login role ``user`` with ``role`` on the project at ``location``."""
    if not is_url(location):
        raise UserInputError("grant works on PostgreSQL projects (postgresql://...); a project file has no roles")
    if role not in ROLES:
        raise UserInputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    check_person_name(user)
    check_password(password)
    where = parse_url(location)
    engine = make_engine(where)
    try:
        with _database_errors(where), engine.begin() as conn:
            tables = set(inspect(conn).get_table_names(schema=where.schema))
            if "meta" not in tables:
                raise UserInputError(f"{where.display}: no labeler project there (create one with `labeler init`)")
            database, me = conn.execute(text("SELECT current_database(), current_user")).one()
            _check_person_role(conn, user, me)
            groups = {r: group_role(database, where.schema, r) for r in ROLES}
            for r, name in groups.items():
                _ensure_group(conn, name, role_comment(database, where.schema, r), me)
            _grant_privileges(conn, where, groups, sorted(tables))
            _retire_legacy_groups(conn, where, groups, sorted(tables))
            created = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": user}).first() is None
            if created:
                conn.execute(text(f"CREATE ROLE {quote(user)} LOGIN"))
            if password is not None:
                verifier = _scram_verifier(conn, user, password)
                _run(conn, f"ALTER ROLE {quote(user)} PASSWORD {_literal(verifier)}")
            for name in groups.values():
                conn.execute(text(f"REVOKE {quote(name)} FROM {quote(user)}"))
            conn.execute(text(f"GRANT {quote(groups[role])} TO {quote(user)}"))
    finally:
        engine.dispose()
    return GrantReport(user=user, role=role, group=groups[role], created=created)


def _check_person_role(conn, user: str, me: str) -> None:  # noqa: ANN001
    """An existing role may be granted only if it is an ordinary login (no superuser, no role
    or replication rights, not labeler's group roles, not the one running grant)."""
    if user == me:
        raise UserInputError(f"{user!r} is the role running grant; grant another person (an admin keeps their rights)")
    row = conn.execute(
        text("SELECT rolcanlogin, rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls "
             "FROM pg_roles WHERE rolname = :n"), {"n": user}
    ).first()
    if row is None:
        return
    login, powerful = row
    if not login:
        raise UserInputError(f"{user!r} is a group role (it cannot log in), not a person")
    if powerful:
        raise UserInputError(f"{user!r} has server-wide rights (superuser, CREATEROLE, CREATEDB, replication or "
                             "BYPASSRLS); a project role would mean nothing for it")


def _ensure_group(conn, name: str, comment: str, me: str) -> None:  # noqa: ANN001
    found = conn.execute(
        text("SELECT r.rolcanlogin, shobj_description(r.oid, 'pg_authid') FROM pg_roles r WHERE r.rolname = :n"),
        {"n": name},
    ).first()
    if found is None:
        conn.execute(text(f"CREATE ROLE {quote(name)} NOLOGIN"))
        _run(conn, f"COMMENT ON ROLE {quote(name)} IS {_literal(comment)}")
    elif found[0] or found[1] != comment:
        raise UserInputError(f"role {name!r} exists and is not this project's group ({found[1] or 'no comment'}); "
                             "nothing was changed")
    # The one running grant joins the admin group: it must be a member to hand the tables over
    # (a managed server's owner has CREATEROLE, not superuser).
    if name.endswith("_admin"):
        # PostgreSQL 16 gives a role's creator ADMIN on it but not SET (what ownership needs)
        can = "SET" if conn.execute(text("SELECT current_setting('server_version_num')::int")).scalar_one() >= 160000 else "MEMBER"
        member = conn.execute(text(f"SELECT pg_has_role(current_user, :n, '{can}')"), {"n": name}).scalar_one()
        if not member:
            conn.execute(text(f"GRANT {quote(name)} TO {quote(me)}"))


def _retire_legacy_groups(conn, where: PgLocation, groups: dict[str, str], tables: list[str]) -> None:  # noqa: ANN001
    """Projects granted before the hashed names had groups ``labeler_<schema>_<role>`` (cut to 63
    characters, so they could be another project's too). Where such a group still has rights on
    this schema, its people move to this project's new group of that role and the old group loses
    its rights here (only here: it may be another project's as well)."""
    schema = quote(where.schema)
    for role in ROLES:
        legacy = f"labeler_{where.schema}_{role}"[:63]
        if legacy == groups[role]:
            continue
        row = conn.execute(
            text("SELECT has_schema_privilege(r.oid, n.oid, 'USAGE') FROM pg_roles r, pg_namespace n "
                 "WHERE r.rolname = :r AND n.nspname = :s AND NOT r.rolcanlogin"), {"r": legacy, "s": where.schema}
        ).first()
        if row is None or not row[0]:
            continue
        members = conn.execute(
            text("SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                 "JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname = :g AND r.rolcanlogin"), {"g": legacy}
        ).scalars().all()
        for person in members:
            conn.execute(text(f"GRANT {quote(groups[role])} TO {quote(person)}"))
        if tables:
            conn.execute(text(f"REVOKE ALL ON {', '.join(f'{schema}.{quote(t)}' for t in tables)} FROM {quote(legacy)}"))
        conn.execute(text(f"REVOKE ALL ON SCHEMA {schema} FROM {quote(legacy)}"))


def _scram_verifier(conn, user: str, password: str) -> str:  # noqa: ANN001
    """The SCRAM-SHA-256 verifier of ``password``, computed by libpq on this machine."""
    pgconn = conn.connection.driver_connection.pgconn
    return pgconn.encrypt_password(password.encode(), user.encode(), b"scram-sha-256").decode()


def _run(conn, sql: str) -> None:  # noqa: ANN001
    """SQL holding literals, run as written (``text()`` would read ``:word`` in them as a parameter)."""
    conn.exec_driver_sql(sql.replace("%", "%%"))


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _grant_privileges(conn, where: PgLocation, groups: dict[str, str], tables: list[str]) -> None:  # noqa: ANN001
    schema = quote(where.schema)
    admin = quote(groups["admin"])
    qualified = [f"{schema}.{quote(t)}" for t in tables]
    for r in ("annotator", "reviewer"):
        group = quote(groups[r])
        conn.execute(text(f"REVOKE ALL ON {', '.join(qualified)} FROM {group}"))  # an older grant's table-wide rights
        conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {group}"))
        conn.execute(text(f"GRANT SELECT ON {', '.join(qualified)} TO {group}"))
        for table, privileges in MATRIX[r].items():
            if table in tables:
                if privileges.startswith("UPDATE ("):
                    conn.execute(text(f"GRANT UPDATE {privileges[7:]} ON {schema}.{quote(table)} TO {group}"))
                else:
                    conn.execute(text(f"GRANT {privileges} ON {schema}.{quote(table)} TO {group}"))
        if "instance" in tables:  # new objects take their id from the table's sequence
            conn.execute(text(f"GRANT USAGE ON SEQUENCE {schema}.instance_id_seq TO {group}"))
    # admin: owns everything in the schema (ALTER and DROP need ownership in PostgreSQL)
    conn.execute(text(f"ALTER SCHEMA {schema} OWNER TO {admin}"))
    for q in qualified:
        conn.execute(text(f"ALTER TABLE {q} OWNER TO {admin}"))
    conn.execute(text(f"SET LOCAL search_path TO {schema}"))
    install_guards(conn)  # a project made before them gets them now
    transfer_guards(conn, schema, admin)


def restore_grants(location: str) -> str | None:
    """After a project was replaced in place (``copy --force``), its new tables belong to whoever
    copied and the team's groups have no rights on them: give them back. Returns a line for the
    user (None when the project had no team), saying what was kept or exactly what to run."""
    where = parse_url(location)
    engine = make_engine(where)
    try:
        with _database_errors(where), engine.begin() as conn:
            database = conn.execute(text("SELECT current_database()")).scalar_one()
            groups = {r: group_role(database, where.schema, r) for r in ROLES}
            people = conn.execute(
                text("SELECT r.rolname, g.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                     "JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname IN :groups AND r.rolcanlogin "
                     "ORDER BY r.rolname").bindparams(bindparam("groups", expanding=True)),
                {"groups": list(groups.values())},
            ).all()
            if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname IN :groups")
                                .bindparams(bindparam("groups", expanding=True)), {"groups": list(groups.values())}).first():
                return None
            tables = sorted(inspect(conn).get_table_names(schema=where.schema))
            try:
                with conn.begin_nested():
                    _grant_privileges(conn, where, groups, tables)
            except DBAPIError:
                role_of = {g: r for r, g in groups.items()}
                commands = "; ".join(f"labeler grant '{where.display}' '{u}' --role {role_of[g]}" for u, g in people)
                return ("the team's roles have no rights on the replaced project (this role may not hand it to "
                        f"its admin group); as the database owner run: {commands or 'labeler grant ... for each person'}")
    finally:
        engine.dispose()
    return f"kept the team's rights: {len(people)} {'person' if len(people) == 1 else 'people'} as before"
