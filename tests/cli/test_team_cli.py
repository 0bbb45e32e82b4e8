"""The CLI's side of a team on PostgreSQL: another person's confirmed points, passwords on stdin."""

from __future__ import annotations

import io

import pytest

from labeler.store import Project


@pytest.fixture
def db_project(cli, images, pg_url):
    r = cli("init", pg_url, "--images", images.root, "--keypoints", "nose,left_eye,right_eye,tail")
    assert r.code == 1, r.err  # three unreadable sample files, listed
    return pg_url


def test_label_names_whose_confirmed_point_it_would_replace(cli, db_project):
    assert cli("label", db_project, "plain/a.jpg", "nose=10,12", "tail=absent", "--user", "ann").code == 0
    r = cli("label", db_project, "plain/a.jpg", "nose=1,1", "left_eye=3,3", "--user", "bob")
    assert r.code == 2 and "Traceback" not in r.err
    assert "nothing saved: nose was confirmed by ann at 20" in r.err and "UTC (add --replace" in r.err
    with Project.open(db_project) as p:
        points = p.points(p.image_by_path("plain/a.jpg").id)
        assert (points["nose"].x, points["nose"].annotator) == (10, "ann") and "left_eye" not in points
    assert cli("label", db_project, "plain/a.jpg", "left_eye=3,3", "--user", "bob").code == 0  # not ann's: fine
    assert cli("label", db_project, "plain/a.jpg", "nose=10,11", "--user", "ann").code == 0  # one's own: fine
    r = cli("label", db_project, "plain/a.jpg", "nose=1,1", "--user", "bob", "--replace")
    assert r.code == 0, r.err
    with Project.open(db_project) as p:
        points = p.points(p.image_by_path("plain/a.jpg").id)
        assert (points["nose"].x, points["nose"].annotator) == (1, "bob")


@pytest.mark.parametrize("given", ["\n", "", "\r\n"])
def test_grant_refuses_an_empty_password_on_stdin(cli, pg_url, monkeypatch, given):
    monkeypatch.setattr("sys.stdin", io.StringIO(given))
    r = cli("grant", pg_url, "emptypw", "--role", "annotator", "--password-stdin")
    assert r.code == 2 and "error: the password is empty" in r.err and "nothing was changed" in r.err


def test_copy_force_onto_a_team_project_keeps_its_grants(cli, db_project, tmp_path):
    assert cli("grant", db_project, "keep_ann", "--role", "annotator").code == 0
    local = tmp_path / "local.labeler"
    assert cli("copy", db_project, local).code == 0
    r = cli("copy", local, db_project, "--force")
    assert r.code == 0, r.err
    assert "kept the team's rights: 1 person as before" in r.out
    ann = db_project.replace("postgres:@", "keep_ann@", 1)
    assert cli("label", ann, "plain/a.jpg", "nose=1,2").code == 0  # still an annotator
    r = cli("remove-images", ann, "plain/a.jpg")
    assert r.code == 2 and "may not do this" in r.err  # and no more than that


def test_init_force_onto_a_team_project_keeps_its_grants(cli, db_project, images):
    assert cli("grant", db_project, "keep_init_ann", "--role", "reviewer").code == 0
    r = cli("init", db_project, "--images", images.root, "--keypoints", "beak", "--force")
    assert "kept the team's rights: 1 person as before" in r.out
    rev = db_project.replace("postgres:@", "keep_init_ann@", 1)
    assert cli("label", rev, "plain/a.jpg", "beak=1,2").code == 0


def test_names_stored_with_escapes_are_never_printed_raw(cli, tmp_path):
    """A name written before names were checked (or by raw SQL) reaches no terminal as escapes."""
    import sqlite3

    from labeler.store.testing import make_project

    made, _ = make_project(tmp_path)
    made.close()
    path = tmp_path / "test.labeler"
    assert cli("label", path, "plain/a.jpg", "nose=1,1", "--user", "ann").code == 0
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE point SET annotator = 'ann\x1b[2J'")
    r = cli("status", path, "--by-user")
    assert r.code == 0 and "\x1b" not in r.out and "ann?[2J" in r.out
    assert cli("label", path, "plain/a.jpg", "nose=2,2", "--user", "bob\x1b[31m").code == 2  # and none new
