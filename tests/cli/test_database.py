"""Every command on a PostgreSQL project (a real server), and `labeler copy` both ways."""

from __future__ import annotations

import json

import pytest

from labeler.redaction import redact
from labeler.store import Project

KEYPOINTS = "nose,left_eye,right_eye,tail"


@pytest.fixture
def db_project(cli, images, pg_url):
    r = cli("init", pg_url, "--images", images.root, "--keypoints", KEYPOINTS, "--flip", "left_eye:right_eye")
    assert r.code == 1, r.err  # three unreadable sample files, listed
    assert "created postgresql://" in r.out
    return pg_url


def test_init_label_status_review_export_import_on_a_database(cli, db_project, tmp_path):
    assert cli("label", db_project, "plain/a.jpg", "nose=10,12", "tail=absent").code == 0
    r = cli("status", db_project)
    assert r.code == 0 and "manual 2" in r.out and "absent 1" in r.out
    assert cli("review", db_project).code == 0
    out = tmp_path / "a.json"
    assert cli("export", db_project, "--coco", out).code == 0
    data = json.loads(out.read_text())
    assert data["annotations"][0]["keypoints"][:3] == [10, 12, 2]
    r = cli("init", db_project, "--images", tmp_path, "--keypoints", "a")
    assert r.code == 2 and "already holds a project" in r.err and "--force" in r.err


def test_copy_both_ways_keeps_everything_and_coco_is_byte_identical(cli, project, pg_url, tmp_path):
    with Project.open(project) as p:
        ids = [i for i, _, _ in p.image_index()]
        p.set_point(ids[0], "nose", 3.5, 4.25)
        p.set_absent(ids[0], "tail")
        p.write_predictions([(ids[1], {"nose": (5.0, 6.0, 0.3), "tail": (1.0, 1.0, None)})], method="dift", model="m")
        p.correct_point(ids[1], "nose", 7.0, 8.0)
        p.cache_put("ref/a", b"\x00xyz", image_id=ids[0])
    r = cli("copy", project, pg_url)
    assert r.code == 0, r.err
    assert "points: 4" in r.out and "cache entries: 1" in r.out
    back = tmp_path / "back.labeler"
    assert cli("copy", pg_url, back).code == 0
    exports = []
    for where in (project, pg_url, back):
        out = tmp_path / f"{len(exports)}.json"
        assert cli("export", where, "--coco", out, "--predicted").code == 0
        exports.append(out.read_bytes())
    assert exports[0] == exports[1] == exports[2]
    with Project.open(project) as a, Project.open(pg_url) as b:
        assert a.all_points() == b.all_points()
        assert a.list_images() == b.list_images()
        assert b.cache_get("ref/a") == b"\x00xyz"
        assert a.schema() == b.schema()
        # the copy takes new rows after the copied ids (its id sequences moved past them)
        assert b.add_keypoint("ear").keypoints[-1] == "ear"
        b.set_points(ids[2], {"ear": (1.0, 1.0)})


def test_copy_refuses_an_existing_project_unless_forced(cli, project, pg_url):
    assert cli("copy", project, pg_url).code == 0
    r = cli("copy", project, pg_url)
    assert r.code == 2 and "refusing to overwrite" in r.err
    assert cli("copy", project, pg_url, "--force").code == 0


def test_an_unreachable_server_is_one_clear_error(cli):
    r = cli("status", "postgresql://ann:s3cret@127.0.0.1:1/lab?schema=birds")
    assert r.code == 2
    assert r.err.startswith("error: postgresql://ann:***@127.0.0.1:1/lab?schema=birds: cannot connect to the database server")
    assert "s3cret" not in r.err and "Traceback" not in r.err


def test_a_mistyped_scheme_is_refused_and_never_becomes_a_path(cli, images, tmp_path, monkeypatch):
    """Taken as a file path, the password became a folder name on disk."""
    monkeypatch.chdir(tmp_path)
    r = cli("init", "postgresq://ann:s3cret@127.0.0.1:5432/lab?schema=zz", "--images", images.root, "--keypoints", "a")
    assert r.code == 2 and "did you mean postgresql://" in r.err and "s3cret" not in r.err
    assert not (tmp_path / "postgresq:").exists()
    r = cli("status", "mysql://ann:s3cret@h/db")
    assert r.code == 2 and "unknown kind of project location 'mysql'" in r.err and "s3cret" not in r.err


def test_passwords_never_appear(cli, images, pg_server):
    url = pg_server.replace("postgres:@", "postgres:hunter2@") + "&schema=secretive"
    r = cli("init", url, "--images", images.root, "--keypoints", "a")
    assert "hunter2" not in r.out + r.err and "postgres:***@" in r.out
    r = cli("status", url)
    assert r.code == 0 and "hunter2" not in r.out + r.err
    with Project.open(url) as p:
        assert "hunter2" not in repr(p) and "hunter2" not in p.display
    r = cli("copy", url, url, "--force")
    assert r.code == 2 and "is the project being copied" in r.err and "hunter2" not in r.err
    assert cli("status", url).code == 0  # untouched


def test_a_bad_schema_name_is_refused(cli, images, pg_server):
    r = cli("init", pg_server + "&schema=no;drop", "--images", images.root, "--keypoints", "a")
    assert r.code == 2 and "letters, digits and _" in r.err


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("open postgresql://u:p%40ss@h:5/db?schema=x failed", "open postgresql://u:***@h:5/db?schema=x failed"),
        ("postgresql://u@h/db?password=pw&sslmode=require", "postgresql://u@h/db?password=***&sslmode=require"),
        ("postgresql://h/db", "postgresql://h/db"),
    ],
)
def test_redact(text, shown):
    assert redact(text) == shown


def test_who_did_what(cli, db_project, tmp_path):
    assert cli("label", db_project, "plain/a.jpg", "nose=10,12", "--user", "ann").code == 0
    assert cli("label", db_project, "plain/b.png", "nose=1,2", "tail=absent", "--user", "bob").code == 0
    r = cli("status", db_project, "--by-user")
    assert r.code == 0
    assert "  ann: 1 (manual 1)" in r.out and "  bob: 2 (manual 2)" in r.out
    out = tmp_path / "who.json"
    assert cli("export", db_project, "--coco", out, "--annotators").code == 0
    data = json.loads(out.read_text())
    assert [a["keypoint_annotators"] for a in data["annotations"]] == [
        ["ann", None, None, None],
        ["bob", None, None, "bob"],
    ]


def test_grant_then_the_database_refuses_what_the_role_may_not_do(cli, db_project):
    r = cli("grant", db_project, "cli_ann", "--role", "annotator")  # role names are server-wide
    assert r.code == 0 and "created role cli_ann: annotator" in r.out
    assert "cli_ann has no password yet" in r.out and "--password-stdin" in r.out  # how to give one
    again = cli("grant", db_project, "cli_ann", "--role", "annotator").out
    assert "updated role cli_ann" in again and "no password" not in again  # an existing password is kept
    ann = db_project.replace("postgres:@", "cli_ann@", 1)
    assert cli("label", ann, "plain/a.jpg", "nose=1,2").code == 0
    r = cli("remove-images", ann, "plain/a.jpg")
    assert r.code == 2 and "your database role may not do this (permission denied for table image)" in r.err
    assert "Traceback" not in r.err
    assert cli("status", db_project).out.count("images: 12") == 1


def test_each_machine_may_name_its_own_images_folder(cli, db_project, images, tmp_path, monkeypatch):
    import shutil

    mount = tmp_path / "elsewhere"
    shutil.copytree(images.root, mount)
    monkeypatch.setenv("LABELER_IMAGES_ROOT", str(mount))
    r = cli("status", db_project)
    assert r.code == 0 and f"images root: {mount}" in r.out
    monkeypatch.delenv("LABELER_IMAGES_ROOT")
    assert f"images root: {images.root}" in cli("status", db_project).out  # the shared project is unchanged


def test_libpq_service_files_and_url_parameters_work(cli, db_project, pg_server, tmp_path, monkeypatch):
    """Connection details may come from a pg_service.conf entry (PGSERVICEFILE/PGSERVICE), as
    libpq reads them; other URL parameters (sslmode) pass through to libpq."""
    from sqlalchemy.engine import make_url

    url = make_url(pg_server)
    service = tmp_path / "pg_service.conf"
    service.write_text(f"[lab]\nhost={url.query['host']}\ndbname={url.database}\nuser={url.username}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    schema = db_project.rsplit("schema=", 1)[1]
    r = cli("status", f"postgresql:///?service=lab&sslmode=disable&schema={schema}")
    assert r.code == 0, r.err
    assert "images: 12" in r.out
    monkeypatch.setenv("PGSERVICE", "lab")
    assert cli("status", f"postgresql:///?schema={schema}").code == 0


def test_passwords_come_from_pgpassword_or_pgpass(cli, db_project, tmp_path, monkeypatch):
    """A role that must give a password (scram-sha-256, as on a real server): without one it is
    one clear error; PGPASSWORD or a ~/.pgpass-style file (PGPASSFILE) supply it."""
    import os

    import psycopg

    from labeler.store.dialects.postgresql import conninfo
    from labeler.store.location import parse_url

    admin = conninfo(parse_url(db_project))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pwuser') THEN "
                     "CREATE ROLE pwuser LOGIN; END IF; END$$")
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute("ALTER ROLE pwuser PASSWORD 'Secr3t'")
        hba = conn.execute("SHOW hba_file").fetchone()[0]
        lines = open(hba).read()
        if "pwuser" not in lines:
            with open(hba, "w") as fh:
                fh.write("local all pwuser scram-sha-256\n" + lines)
        conn.execute("SELECT pg_reload_conf()")
    assert cli("grant", db_project, "pwuser", "--role", "annotator").code == 0
    url = db_project.replace("postgres:@", "pwuser@", 1)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "nothing"))
    r = cli("status", url)
    assert r.code == 2 and ("password" in r.err) and "Traceback" not in r.err
    monkeypatch.setenv("PGPASSWORD", "Secr3t")
    assert cli("status", url).code == 0
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:pwuser:Secr3t\n")
    os.chmod(passfile, 0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    r = cli("status", url)
    assert r.code == 0, r.err
