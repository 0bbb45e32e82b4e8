"""``labeler grant URL NAME --role annotator|reviewer|admin``: database-enforced permissions."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "grant",
        help="let a person work on a PostgreSQL project as annotator, reviewer or admin",
        description=(
            "Create (or update) the PostgreSQL login role NAME and give it one role on the project at URL. "
            "annotator: place, move and accept points (their own and predictions), claim images for "
            "themselves (no schema changes, no adding or deleting images, no drops). reviewer: also "
            "propagate and change anyone's points. admin: everything. The database enforces it, and "
            "records who did what. Run as the database owner (a managed server's owner with CREATEROLE "
            "is enough) or a superuser. Passwords: --password-stdin (sent as a SCRAM-SHA-256 verifier, "
            "never in clear text); each person's password then comes from ~/.pgpass or PGPASSWORD, "
            "never from the project."
        ),
    )
    p.add_argument("project", metavar="URL", help="postgresql://host/db?schema=NAME")
    p.add_argument("name", metavar="NAME", help="the person's database role (login name)")
    p.add_argument("--role", required=True, choices=("annotator", "reviewer", "admin"))
    p.add_argument("--password-stdin", action="store_true", help="read the role's new password from standard input")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from labeler.store.roles import grant

    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
    report = grant(args.project, args.name, args.role, password=password)
    verb = "created" if report.created else "updated"
    print(f"{verb} role {report.user}: {report.role} (member of {report.group})")
    if report.created and password is None:
        print(f"  {report.user} has no password yet: the server lets them in only where its pg_hba.conf trusts them; "
              f"set one with  labeler grant URL {report.user} --role {report.role} --password-stdin  "
              "(the password on standard input)")
    return 0
