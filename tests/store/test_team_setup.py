"""A PostgreSQL team project's set-up on a real server: names that never collide, a writer lock
only members can hold, a managed server's owner (no superuser), passwords never in clear text."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time

import psycopg
import pytest

from labeler.errors import ProjectError, UserInputError
from labeler.store import Project
from labeler.store.copying import copy_project
from labeler.store.dialects import postgresql as pg
from labeler.store.dialects.postgresql_team import channel, group_role
from labeler.store.roles import grant
from labeler.store.testing import make_project

_n = itertools.count(1)


def as_role(url: str, name: str) -> str:
    return url.replace("postgres:@", f"{name}@", 1)


def superuser(url: str) -> psycopg.Connection:
    return psycopg.connect(url.rsplit("&schema=", 1)[0], autocommit=True)


@pytest.fixture
def sqlite_project(tmp_path):
    local, _ = make_project(tmp_path)
    local.close()
    return tmp_path / "test.labeler"


def test_generated_long_and_alike_names_never_collide():
    """Every pair of (database, schema) names, however long or alike, gets its own group roles
    and channel, each a valid PostgreSQL identifier (at most 63 bytes)."""
    schemas = set()
    for n in range(1, 64):
        for tail in ("", "a", "b", "_", "Z9"):
            s = ("s" * n + tail)[:63]
            schemas |= {s, s[:-1] + "x", s.upper()}
    pairs = [(db, s) for db in ("postgres", "labeler", "labeler2", "l" * 63) for s in schemas]
    names = [group_role(db, s, r) for db, s in pairs for r in ("annotator", "reviewer", "admin")]
    channels = [channel(db, s) for db, s in pairs]
    assert len(set(names)) == len(names) and len(set(channels)) == len(channels)
    assert max(len(x.encode()) for x in names + channels) <= 63


def test_projects_with_63_character_alike_schemas_stay_apart(sqlite_project, pg_url):
    base = pg_url.rsplit("schema=", 1)[0]
    stem = f"team{next(_n)}_" + "x" * 60
    a, b = base + "schema=" + stem[:62] + "a", base + "schema=" + stem[:62] + "b"
    for url in (a, b):
        copy_project(sqlite_project, url)  # init used to fail here: "channel name too long"
    k = next(_n)
    grant(a, f"alike{k}_ann", "annotator")
    grant(b, f"alike{k}_adm", "admin")
    with superuser(a) as su:
        comments = dict(su.execute(
            "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname LIKE 'labeler\\_%'"
        ).fetchall())
    groups_a = {group_role("postgres", stem[:62] + "a", r) for r in ("annotator", "reviewer", "admin")}
    assert all(stem[:62] + "a" in comments[g] for g in groups_a)
    with Project.open(as_role(a, f"alike{k}_ann")) as ann:
        img = ann.image_by_path("plain/a.jpg").id
        ann.set_point(img, "nose", 1, 2)
        with pytest.raises(ProjectError), ann._engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE point")
    with pytest.raises(ProjectError, match="may not use schema"):
        Project.open(as_role(b, f"alike{k}_ann"))  # the other project: nothing, not even reading
    with Project.open(b) as watcher, Project.open(as_role(b, f"alike{k}_adm")) as admin:
        watcher.has_changed()
        admin.set_point(admin.image_by_path("plain/a.jpg").id, "nose", 5, 5)
        deadline = time.monotonic() + 5
        while not watcher.has_changed():  # live updates on the hashed channel
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_the_writer_lock_is_a_members_lock_with_a_bounded_wait_naming_the_holder(sqlite_project, pg_url, monkeypatch):
    copy_project(sqlite_project, pg_url)
    k = next(_n)
    ann, outsider = f"lock{k}_ann", f"lock{k}_outsider"
    grant(pg_url, ann, "annotator")
    schema = pg_url.rsplit("schema=", 1)[1]
    with superuser(pg_url) as su:
        su.execute(f'CREATE ROLE "{outsider}" LOGIN')
    # anyone who can log in could take the old advisory lock; it no longer stops anything
    with psycopg.connect(as_role(pg_url.rsplit("&schema=", 1)[0], outsider)) as out:
        out.execute("SELECT pg_advisory_lock(hashtext('x'))")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            out.execute(f'LOCK TABLE "{schema}".point IN SHARE ROW EXCLUSIVE MODE')
    monkeypatch.setattr(pg, "LOCK_WAIT_S", 0.5)
    with Project.open(pg_url) as owner:
        img = owner.image_by_path("plain/a.jpg").id
        owner.set_point(img, "nose", 1, 1)
        with psycopg.connect(as_role(pg_url.rsplit("&schema=", 1)[0], ann), application_name="ann-laptop") as holder:
            holder.execute(f'LOCK TABLE "{schema}".point IN SHARE ROW EXCLUSIVE MODE')  # a member, mid-write
            t0 = time.monotonic()
            with pytest.raises(ProjectError, match=rf"being written by {ann} \(ann-laptop, pid \d+, in a transaction "
                                                   r"since \d\d:\d\d:\d\d UTC\); waited 0.5 s"):
                owner.set_point(img, "nose", 2, 2)
            assert time.monotonic() - t0 < 5
        owner.set_point(img, "nose", 3, 3)  # released: writes go on
        assert owner.points(img)["nose"].x == 3


def test_a_managed_servers_owner_without_superuser_inits_and_grants(sqlite_project, pg_url):
    """As on RDS, Cloud SQL or Azure: the database's owner has CREATEROLE, not SUPERUSER."""
    k = next(_n)
    owner, db = f"mgr{k}", f"managed{k}"
    with superuser(pg_url) as su:
        su.execute(f'CREATE ROLE "{owner}" LOGIN CREATEROLE')
        su.execute(f'CREATE DATABASE "{db}" OWNER "{owner}"')
    url = pg_url.replace("postgres:@/postgres?", f"{owner}@/{db}?", 1)
    copy_project(sqlite_project, url)
    assert grant(url, f"mgr{k}_ann", "annotator").created
    assert grant(url, f"mgr{k}_boss", "admin").created
    with Project.open(url.replace(f"{owner}@", f"mgr{k}_ann@", 1)) as ann:
        img = ann.image_by_path("plain/a.jpg").id
        ann.set_point(img, "nose", 1, 2)
        assert ann.points(img)["nose"].annotator == f"mgr{k}_ann"
        with pytest.raises(pg.PermissionRefused):
            ann.add_keypoint("ear")
    with Project.open(url.replace(f"{owner}@", f"mgr{k}_boss@", 1)) as boss:
        boss.add_keypoint("ear")


def _scram_matches(verifier: str, password: str) -> bool:
    """RFC 5802/7677: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>."""
    _, params, keys = verifier.split("$")
    iterations, salt = params.split(":")
    stored, server = (base64.b64decode(x) for x in keys.split(":"))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return hashlib.sha256(client_key).digest() == stored and hmac.new(salted, b"Server Key", "sha256").digest() == server


def test_passwords_reach_the_server_only_as_scram_verifiers(sqlite_project, pg_url):
    copy_project(sqlite_project, pg_url)
    k = next(_n)
    secret = f"Tr0ub4dor&3-{k}-{time.time_ns()}"
    with superuser(pg_url) as su:
        su.execute("ALTER SYSTEM SET log_statement = 'all'")
        su.execute("SELECT pg_reload_conf()")
        try:
            time.sleep(0.2)
            grant(pg_url, f"pw{k}", "annotator", password=secret)
            grant(pg_url, f"pw{k}", "reviewer", password=secret + "2")  # changing it, too
            log = su.execute("SELECT pg_read_file('log')").fetchone()[0]
            stored = su.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (f"pw{k}",)).fetchone()[0]
        finally:
            su.execute("ALTER SYSTEM RESET log_statement")
            su.execute("SELECT pg_reload_conf()")
    assert "SCRAM-SHA-256$" in log and f'ALTER ROLE "pw{k}" PASSWORD' in log  # the log does show the statements
    assert secret not in log
    assert _scram_matches(stored, secret + "2")


@pytest.mark.parametrize("name", [
    "postgres", "pg_signal_backend", "pg_read_all_data", "PG_MONITOR", "public",
    "labeler_0123456789ab_admin", "labeler_t1_annotator", "ann\x1b[31mred", "bob\n", "tab\there", "a\u200bb", "\x7f", "",
    "x" * 64,
])
def test_grant_refuses_roles_that_are_not_a_person(pg_url, name):
    with pytest.raises(UserInputError, match="not a valid role name|keeps for itself"):
        grant(pg_url, name, "annotator")


def test_grant_refuses_powerful_or_group_roles_and_empty_passwords(pg_url, sqlite_project):
    copy_project(sqlite_project, pg_url)
    k = next(_n)
    with superuser(pg_url) as su:
        su.execute(f'CREATE ROLE "su{k}" LOGIN SUPERUSER')
        su.execute(f'CREATE ROLE "grp{k}" NOLOGIN')
    with pytest.raises(UserInputError, match="server-wide rights"):
        grant(pg_url, f"su{k}", "annotator")
    with pytest.raises(UserInputError, match="group role"):
        grant(pg_url, f"grp{k}", "annotator")
    for password in ("", "a\nb", "\x00"):
        with pytest.raises(UserInputError, match="password is empty or holds control characters"):
            grant(pg_url, f"pwless{k}", "annotator", password=password)


@pytest.mark.parametrize("name", ["ann\x1b[2J", "bob\r", "zero\u200bwidth", " ", "tab\t"])
def test_user_names_with_control_characters_are_refused(sqlite_project, name):
    with pytest.raises(UserInputError, match="control or invisible characters"):
        Project.open(sqlite_project, user=name)


def test_a_project_granted_before_the_hashed_names_moves_its_people_to_the_new_groups(sqlite_project, pg_url):
    copy_project(sqlite_project, pg_url)
    schema = pg_url.rsplit("schema=", 1)[1]
    k = next(_n)
    old, person = f"labeler_{schema}_annotator", f"old{k}_ann"
    with superuser(pg_url) as su:  # what the earlier `labeler grant` made
        su.execute(f'CREATE ROLE "{old}" NOLOGIN')
        su.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{old}"')
        su.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{old}"')
        su.execute(f'GRANT INSERT, UPDATE, DELETE ON "{schema}".point, "{schema}".image TO "{old}"')
        su.execute(f'CREATE ROLE "{person}" LOGIN IN ROLE "{old}"')
    grant(pg_url, f"old{k}_new", "annotator")
    with superuser(pg_url) as su:
        assert not su.execute(f"SELECT has_table_privilege('{old}', '\"{schema}\".image', 'UPDATE')").fetchone()[0]
    with Project.open(as_role(pg_url, person)) as p:  # still an annotator, now under the new group's rules
        img = p.image_by_path("plain/a.jpg").id
        p.set_point(img, "nose", 1, 1)
        with pytest.raises(pg.PermissionRefused):
            p.remove_images([img])
