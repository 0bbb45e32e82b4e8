"""Live view on PostgreSQL: LISTEN/NOTIFY behind Project.has_changed(), surviving a lost connection."""

from __future__ import annotations

import time

import psycopg
import pytest

from labeler.errors import ProjectError
from labeler.store import Project
from labeler.store.dialects.postgresql import conninfo
from labeler.store.location import parse_url
from labeler.store.testing import KEYPOINTS, make_image_folder


@pytest.fixture
def db_project(tmp_path, pg_url):
    sample = make_image_folder(tmp_path / "images", broken=False)
    from labeler.store.relpaths import relative_to_root
    from labeler.store.scanning import find_image_files, probe_files

    files = find_image_files(sample.root)
    probed, _ = probe_files([(f, relative_to_root(f, sample.root)) for f in files], progress=False)
    project = Project.create(pg_url, sample.root, KEYPOINTS, images=probed)
    yield project
    project.close()


def _wait_changed(project: Project) -> None:
    deadline = time.time() + 5
    while not project.has_changed():
        assert time.time() < deadline, "no change noticed"
        time.sleep(0.02)


def test_an_edit_elsewhere_is_seen_and_a_quiet_project_is_not(db_project):
    db_project.has_changed()
    assert not db_project.has_changed()
    with Project.open(db_project.location) as other:
        other.set_point(other.image_index()[0][0], "nose", 1, 1)
    _wait_changed(db_project)
    assert not db_project.has_changed()  # each change is reported once


def test_a_lost_listening_connection_is_listened_again(db_project):
    admin = conninfo(parse_url(db_project.location))
    with psycopg.connect(admin, autocommit=True) as conn:
        pid = db_project._poller._conn.info.backend_pid
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(0.2)
    assert db_project.has_changed()  # reconnected: something may have changed while it was away
    with Project.open(db_project.location) as other:
        other.set_point(other.image_index()[0][0], "tail", 2, 2)
    _wait_changed(db_project)


def test_a_server_that_is_gone_is_a_project_error_for_the_poller(db_project, monkeypatch):
    poller = db_project._poller
    poller._conn.close()
    monkeypatch.setattr(poller, "_location", parse_url("postgresql://nobody@127.0.0.1:1/x?schema=s"))
    with pytest.raises(ProjectError, match="cannot connect to the database server"):
        db_project.has_changed()
