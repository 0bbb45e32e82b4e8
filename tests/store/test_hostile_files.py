"""A project file or an images folder from someone else: what it cannot make labeler do."""

from __future__ import annotations

import os

import pytest

from labeler.errors import ProjectError
from labeler.store import Project, find_image_files
from labeler.store.relpaths import escapes, image_file
from labeler.store.testing import edit_behind_labelers_back, write_image

pytestmark = pytest.mark.sqlite_only  # a hostile *file*: edited behind labeler's back with sqlite3




@pytest.mark.parametrize("bad", ["../private/x.jpg", "/etc/passwd.jpg", "a/../../x.jpg", "C:/x.jpg", "..\\x.jpg"])
def test_a_path_leaving_the_images_folder_is_refused_on_open(made, bad):
    project, _ = made
    path = project.path
    img = project.image_by_path("plain/a.jpg").id
    project.close()
    edit_behind_labelers_back(path, f"UPDATE image SET path = '{bad}' WHERE id = {img}")
    with pytest.raises(ProjectError, match=rf"image {img} .*leaves the images folder"):
        Project.open(path)


def test_joining_a_stored_path_to_the_root_refuses_escapes(tmp_path):
    assert image_file(tmp_path, "a/b.jpg") == tmp_path / "a" / "b.jpg"
    for bad in ("../x.jpg", "/x.jpg", "", "a/../../x.jpg", "C:/x", "C:"):
        with pytest.raises(ProjectError, match="leaves the images folder"):
            image_file(tmp_path, bad, row=7)


def test_video_frame_names_with_a_colon_are_not_drive_letters():
    for name in ("1:05:33.jpg", "a:b.jpg", "frames/1:05:33.jpg", "12:00.png"):
        assert not escapes(name), name
    for name in ("C:/x.jpg", "c:\\x.jpg", "C:"):
        assert escapes(name), name


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE TRIGGER demote AFTER UPDATE ON point BEGIN UPDATE point SET status = 'predicted' "
        "WHERE image_id = NEW.image_id AND keypoint_id = NEW.keypoint_id; END",
        "CREATE VIEW v AS SELECT * FROM point",
    ],
)
def test_triggers_and_views_added_to_a_project_are_refused(made, ddl):
    project, _ = made
    path = project.path
    project.close()
    edit_behind_labelers_back(path, ddl)
    kind = "trigger" if "TRIGGER" in ddl else "view"
    with pytest.raises(ProjectError, match=rf"unknown {kind}"):
        Project.open(path)


def test_connections_do_not_trust_the_schema(made):
    project, _ = made
    with project._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA trusted_schema").scalar() == 0


@pytest.mark.parametrize("value", ["0", "-3", "x", "99999999999999999999999"])
def test_a_bad_schema_version_is_one_message(made, value):
    project, _ = made
    path = project.path
    project.close()
    edit_behind_labelers_back(path, f"UPDATE meta SET value = '{value}' WHERE key = 'schema_version'")
    with pytest.raises(ProjectError):
        Project.open(path)


@pytest.mark.parametrize("key", ["schema_version", "images_root", "images_root_rel", "name", "format"])
def test_a_meta_value_of_the_wrong_type_is_one_message(made, key):
    project, _ = made
    path = project.path
    project.close()
    edit_behind_labelers_back(path, f"UPDATE meta SET value = x'00ff' WHERE key = '{key}'")
    with pytest.raises(ProjectError):
        Project.open(path)


def test_scanning_follows_links_only_inside_the_images_folder(tmp_path):
    root = tmp_path / "images"
    write_image(root / "own.jpg", "rgb", (8, 6))
    write_image(root / "sub" / "inner.jpg", "rgb", (8, 6))
    write_image(tmp_path / "private" / "secret.jpg", "rgb", (8, 6))
    os.symlink("/", root / "everything")
    os.symlink(tmp_path / "private", root / "data")
    os.symlink(tmp_path / "private" / "secret.jpg", root / "secret.jpg")
    os.symlink(root / "sub", root / "sub_again")  # inside: the real folder is scanned once
    skipped = []
    found = [p.relative_to(root).as_posix() for p in find_image_files(root, skipped=skipped)]
    assert found == ["own.jpg", "sub/inner.jpg"]
    assert sorted(s.path for s in skipped) == ["data", "everything", "secret.jpg"]
    assert all("outside the images folder" in s.reason for s in skipped)


def test_a_linked_folder_named_explicitly_is_scanned(tmp_path):
    root = tmp_path / "images"
    write_image(tmp_path / "elsewhere" / "linked.jpg", "rgb", (8, 6))
    root.mkdir()
    os.symlink(tmp_path / "elsewhere", root / "data")
    assert [p.name for p in find_image_files(root / "data")] == ["linked.jpg"]
