"""What each role may do in a PostgreSQL project, decided by the server: every statement is run
with the role's own connection and must be allowed or refused exactly as the matrix says."""

from __future__ import annotations

import itertools

import psycopg
import pytest

from labeler.store import Project
from labeler.store.copying import copy_project
from labeler.store.roles import grant
from labeler.store.testing import make_project

_people = itertools.count(1)


def as_role(url: str, name: str) -> str:
    return url.replace("postgres:@", f"{name}@", 1)


def connect(url: str, name: str | None = None) -> psycopg.Connection:
    """A plain psycopg connection as ``name`` (the superuser when None), in the project's schema."""
    base, schema = url.rsplit("&schema=", 1)
    conn = psycopg.connect(base.replace("postgresql+psycopg", "postgresql") if name is None else as_role(base, name))
    conn.execute(f'SET search_path TO "{schema}"')
    conn.commit()
    return conn


@pytest.fixture(scope="module")
def team(tmp_path_factory, pg_server):
    """A project with two annotators, a reviewer, an admin and an outsider (no grant), and:
    image a: ann1's confirmed point; image b: a prediction; image c: ann2's claim."""
    tmp_path = tmp_path_factory.mktemp("team")
    pg_url = f"{pg_server}&schema=team_matrix"
    local, _ = make_project(tmp_path)
    local.close()
    copy_project(tmp_path / "test.labeler", pg_url)
    n = next(_people)
    people = {r: f"perm{n}_{r}" for r in ("ann1", "ann2", "rev", "adm", "outsider")}
    for who, role in (("ann1", "annotator"), ("ann2", "annotator"), ("rev", "reviewer"), ("adm", "admin")):
        grant(pg_url, people[who], role)
    with connect(pg_url) as su:
        su.execute(f'CREATE ROLE "{people["outsider"]}" LOGIN')
    with Project.open(pg_url) as owner:
        ids = {k: owner.image_by_path(p).id for k, p in (("a", "plain/a.jpg"), ("b", "plain/b.png"), ("c", "formats/gray.png"),
                                                          ("d", "formats/rgba.png"))}
        owner.write_predictions([(ids["b"], {"tail": (1.0, 1.0, 0.5)})], method="m", model=None)
        owner.add_instance(ids["d"])  # an object with no points yet
    with Project.open(as_role(pg_url, people["ann1"])) as ann1:
        ann1.set_point(ids["a"], "nose", 3, 4)
    with Project.open(as_role(pg_url, people["ann2"])) as ann2:
        assert ann2.claim_image(ids["c"]).mine
    return pg_url, people, ids


Y, N = True, False
#: statement -> allowed for (ann1, ann2, rev, adm, outsider). {a}, {b}, {c}, {d}: image ids.
MATRIX = [
    ("SELECT * FROM point", (Y, Y, Y, Y, N)),
    ("SELECT * FROM image", (Y, Y, Y, Y, N)),
    ("INSERT INTO point (image_id, instance_id, keypoint_id, x, y, visibility, status, created_at, updated_at) "
     "SELECT {d}, (SELECT min(id) FROM instance WHERE image_id = {d}), id, 1, 1, 2, 'manual', 0, 0 FROM keypoint LIMIT 1",
     (Y, Y, Y, Y, N)),
    ("INSERT INTO instance (image_id, box_x, box_y, box_w, box_h, box_source, review_status, created_at) "
     "VALUES ({d}, 1, 1, 5, 5, 'drawn', 'unlabeled', 0)", (Y, Y, Y, Y, N)),
    ("UPDATE point SET x = x + 1 WHERE image_id = {a}", (Y, N, Y, Y, N)),  # ann1's own point
    ("DELETE FROM point WHERE image_id = {a}", (Y, N, Y, Y, N)),
    ("UPDATE point SET x = 2, status = 'corrected' WHERE image_id = {b}", (Y, Y, Y, Y, N)),  # a prediction
    ("UPDATE image SET flag = 'later' WHERE id = {a}", (Y, Y, Y, Y, N)),
    # image a's object holds ann1's confirmed point: the others' annotators may not delete it
    # (its points would go by cascade), rename, re-box or move it; b's holds only a prediction
    ("DELETE FROM instance WHERE image_id = {a}", (Y, N, Y, Y, N)),
    ("UPDATE instance SET name = 'mine' WHERE image_id = {a}", (Y, N, Y, Y, N)),
    ("UPDATE instance SET box_x = 1, box_y = 1, box_w = 2, box_h = 2, box_source = 'drawn' WHERE image_id = {a}",
     (Y, N, Y, Y, N)),
    ("DELETE FROM instance WHERE image_id = {b}", (Y, Y, Y, Y, N)),
    ("UPDATE instance SET name = 'cat' WHERE image_id = {b}", (Y, Y, Y, Y, N)),
    ("UPDATE image SET pred_method = 'x' WHERE id = {a}", (N, N, Y, Y, N)),
    ("UPDATE image SET path = 'elsewhere.jpg' WHERE id = {a}", (N, N, N, Y, N)),
    ("UPDATE image SET width = 1, height = 1 WHERE id = {a}", (N, N, N, Y, N)),
    ("UPDATE image SET sha256 = 'x' WHERE id = {a}", (N, N, N, Y, N)),
    ("DELETE FROM image WHERE id = {a}", (N, N, N, Y, N)),
    ("INSERT INTO image (path, width, height, orientation, sha256, size_bytes, review_status, missing, added_at) "
     "VALUES ('new.jpg', 1, 1, 1, '', 0, 'unlabeled', false, 0)", (N, N, N, Y, N)),
    ("INSERT INTO keypoint (name, position) VALUES ('zz', 99)", (N, N, N, Y, N)),
    ("UPDATE meta SET value = 'x' WHERE key = 'name'", (N, N, N, Y, N)),
    ("UPDATE claim SET expires_at = expires_at + 1 WHERE image_id = {c}", (N, Y, Y, Y, N)),  # ann2's claim
    ("DELETE FROM claim WHERE image_id = {c}", (N, Y, Y, Y, N)),
    ("TRUNCATE point", (N, N, N, Y, N)),
    ("ALTER TABLE point ADD COLUMN q int", (N, N, N, Y, N)),
    ("ALTER TABLE point DISABLE ROW LEVEL SECURITY", (N, N, N, Y, N)),
    ("DROP TRIGGER labeler_guard ON point", (N, N, N, Y, N)),
    ("DROP POLICY labeler_change ON point", (N, N, N, Y, N)),
    ("ALTER FUNCTION labeler_point_guard() RENAME TO nothing", (N, N, N, Y, N)),
    ("DROP TABLE cache", (N, N, N, Y, N)),
    ("LOCK TABLE point IN SHARE ROW EXCLUSIVE MODE", (Y, Y, Y, Y, N)),  # the writer lock
    ("SET session_replication_role = replica", (N, N, N, N, N)),  # would switch the triggers off
    ("CREATE TRIGGER mine BEFORE INSERT ON point FOR EACH ROW EXECUTE FUNCTION labeler_point_guard()",
     (N, N, N, Y, N)),
]
WHO = ("ann1", "ann2", "rev", "adm", "outsider")


def outcome(conn: psycopg.Connection, sql: str) -> bool:
    """Allowed: it ran and touched (or returned) at least one row, or was DDL; refused: an error, or
    a write that row-level security let touch nothing. Always rolled back."""
    try:
        cur = conn.execute(sql)
        verb = sql.split()[0]
        return cur.rowcount > 0 if verb in ("SELECT", "INSERT", "UPDATE", "DELETE") else True
    except psycopg.Error:
        return False
    finally:
        conn.rollback()


def test_each_role_may_do_exactly_what_the_matrix_says(team):
    """(Runs first: every statement is rolled back; the next test commits its own.)"""
    url, people, ids = team
    found, expected = {}, {}
    for who in WHO:
        with connect(url, people[who]) as conn:
            for sql, allowed in MATRIX:
                cell = sql.format(**ids)
                found[(who, sql)] = outcome(conn, cell)
                expected[(who, sql)] = allowed[WHO.index(who)]
    wrong = [f"{who}: {sql} -> {'allowed' if found[(who, sql)] else 'refused'}"
             for (who, sql) in found if found[(who, sql)] != expected[(who, sql)]]
    assert not wrong, "\n".join(wrong)


def test_the_server_sets_who_and_which_version(team):
    url, people, ids = team
    ann2 = people["ann2"]
    with connect(url, ann2) as conn:
        # an annotator cannot write someone else's name, a version, or an endless claim
        conn.execute(
            "INSERT INTO point (image_id, instance_id, keypoint_id, x, y, visibility, status, created_at, updated_at, "
            f"annotator, version) SELECT {ids['d']}, (SELECT min(id) FROM instance WHERE image_id = {ids['d']}), id, "
            "1, 1, 2, 'manual', 0, 0, 'rita', 77 FROM keypoint ORDER BY position LIMIT 1"
        )
        conn.execute(f"UPDATE point SET version = 1, annotator = 'rita' WHERE image_id = {ids['d']}")
        conn.execute(f"UPDATE point SET status = 'accepted' WHERE image_id = {ids['b']}")
        conn.execute(f"INSERT INTO claim VALUES ({ids['d']}, 'rita', 0, 1e12)")
        conn.execute(f"UPDATE image SET review_status = 'reviewed' WHERE id = {ids['c']}")
        conn.execute(f"UPDATE instance SET review_status = 'reviewed' WHERE image_id = {ids['c']}")
        conn.execute(f"INSERT INTO instance (image_id, review_status, created_at) VALUES ({ids['c']}, 'reviewed', 0)")
        conn.commit()
    with connect(url) as su:
        assert su.execute(f"SELECT annotator, version FROM point WHERE image_id = {ids['d']}").fetchall() == [(ann2, 2)]
        assert su.execute(f"SELECT annotator FROM point WHERE image_id = {ids['b']}").fetchall() == [(ann2,)]
        user, expires, now = su.execute(
            f"SELECT \"user\", expires_at, extract(epoch FROM now()) FROM claim WHERE image_id = {ids['d']}").fetchone()
        assert user == ann2 and expires <= now + 3600 + 60
        assert su.execute(f"SELECT review_status FROM image WHERE id = {ids['c']}").fetchone() == ("unlabeled",)
        assert set(su.execute(f"SELECT review_status FROM instance WHERE image_id = {ids['c']}").fetchall()) == {("unlabeled",)}
    with Project.open(as_role(url, ann2)) as p:  # what the app shows is what the server recorded
        assert p.user == ann2
        assert next(iter(p.points(ids["d"]).values())).annotator == ann2
    from labeler.errors import UserInputError

    with pytest.raises(UserInputError, match=r"recorded by the server as your database role .*--user 'rita' cannot"):
        Project.open(as_role(url, people["ann1"]), user="rita")


def test_deleting_someone_elses_point_is_refused_not_silently_skipped(team):
    from labeler.errors import ProjectError

    url, people, ids = team
    with Project.open(as_role(url, people["ann2"])) as ann2:
        with pytest.raises(ProjectError, match="may not delete a point someone else confirmed; nothing was saved"):
            ann2.set_points(ids["a"], {"nose": "unlabeled"})
        with pytest.raises(ProjectError, match="your database role may not change a point someone else confirmed; "
                                               r"nothing was saved \(a reviewer or admin can\)"):
            ann2.set_point(ids["a"], "nose", 7, 7)  # nor move it
        first = ann2.instances(ids["a"])[0].id
        for change in (lambda: ann2.delete_instance(first), lambda: ann2.rename_instance(first, "mine"),
                       lambda: ann2.set_box(first, (1, 1, 2, 2))):  # its object is ann1's too
            with pytest.raises(ProjectError, match=rf"may not (delete|update) an object holding points {people['ann1']} "
                                                   r"confirmed; nothing was saved \(a reviewer or admin can\)"):
                change()
        assert ann2.points(ids["a"])["nose"].annotator == people["ann1"]


def test_a_member_locking_a_table_stalls_no_one_without_a_word(team, monkeypatch):
    """Any member may LOCK a table they can write IN ACCESS EXCLUSIVE MODE (PostgreSQL lets UPDATE
    do that), which stalls every read: each wait for a lock is bounded and names who holds it."""
    from labeler.errors import ProjectError
    from labeler.store.dialects import postgresql as pg

    monkeypatch.setattr(pg, "LOCK_WAIT_S", 0.5)
    url, people, ids = team
    for table in ("point", "instance", "claim", "cache"):
        with connect(url, people["ann1"]) as holder:
            holder.execute("SET idle_in_transaction_session_timeout = '10s'")  # unbounded waits: fail, not hang
            holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(ProjectError, match=rf"locked by {people['ann1']} \(unknown program, pid \d+\); "
                                                   r"waited 0\.5 s"), Project.open(as_role(url, people["ann2"])) as ann2:
                ann2.points(ids["a"]) if table == "point" else ann2.instances(ids["a"]) if table == "instance" \
                    else ann2.claim_image(ids["a"]) if table == "claim" else ann2.cache_get("k")
            holder.rollback()
