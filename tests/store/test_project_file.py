"""Creating, opening and refusing project files."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from labeler.errors import ProjectError, UserInputError
from labeler.store import SCHEMA_VERSION, Project, migrations
from labeler.store.testing import make_image_folder

#: Project *files*; PostgreSQL projects are created and opened in tests/store/test_database.py.
pytestmark = pytest.mark.sqlite_only


def test_create_records_root_schema_and_images(made, tmp_path):
    project, sample = made
    assert project.images_root == sample.root
    assert project.schema().keypoints == ("nose", "left_eye", "right_eye", "tail")
    assert project.schema().flip_pairs == (("left_eye", "right_eye"),)
    assert {im.path for im in project.list_images()} == set(sample.good)
    meta = project.meta()
    assert meta["format"] == "labeler-project"
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert meta["images_root_rel"] == "images"


def test_file_is_wal_with_foreign_keys(made):
    project, _ = made
    with project._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA application_id").scalar() == migrations.APPLICATION_ID


def test_create_refuses_existing_file_unless_forced(made, tmp_path):
    project, sample = made
    project.close()
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(project.path, sample.root, ["a"])
    with Project.open(project.path) as again:  # untouched
        assert again.schema().keypoints[0] == "nose"
    with Project.create(project.path, sample.root, ["a", "b"], force=True) as replaced:
        assert replaced.schema().keypoints == ("a", "b")
        assert replaced.image_count() == 0


def test_force_refuses_a_project_open_elsewhere(made):
    project, sample = made
    with pytest.raises(ProjectError, match="open in another program"):
        Project.create(project.path, sample.root, ["a"], force=True)
    assert project.schema().keypoints[0] == "nose"


def test_failed_create_leaves_nothing(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    target = tmp_path / "p.labeler"
    with pytest.raises(UserInputError):
        Project.create(target, root, ["a", "a"])
    with pytest.raises(UserInputError, match="does not exist"):
        Project.create(target, tmp_path / "nope", ["a"])
    with pytest.raises(UserInputError):
        Project.create(target, root, ["a", "b"], skeleton=[("a", "c")])
    assert list(tmp_path.iterdir()) == [root]


def test_create_is_atomic_when_interrupted(tmp_path, monkeypatch):
    root = tmp_path / "imgs"
    root.mkdir()
    target = tmp_path / "p.labeler"

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("labeler.store.project.os.replace", boom)
    with pytest.raises(KeyboardInterrupt):
        Project.create(target, root, ["a"])
    assert list(tmp_path.iterdir()) == [root]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such project file"),
        (b"", "empty"),
        (b"hello, I am a text file\n", "not an SQLite database"),
    ],
)
def test_open_refuses_non_projects(tmp_path, content, message):
    path = tmp_path / "x.labeler"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ProjectError, match=message):
        Project.open(path)
    assert content is not None or not path.exists()  # opening never creates a file


def test_open_refuses_foreign_sqlite_and_folders(tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (a)")
    conn.commit()
    conn.close()
    with pytest.raises(ProjectError, match="not a labeler project"):
        Project.open(other)
    with pytest.raises(ProjectError, match="folder"):
        Project.open(tmp_path)


def test_open_refuses_newer_schema(made):
    project, _ = made
    project.close()
    conn = sqlite3.connect(project.path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 2),))
    conn.commit()
    conn.close()
    with pytest.raises(ProjectError, match=rf"newer labeler \(schema {SCHEMA_VERSION + 2} > {SCHEMA_VERSION}\); upgrade labeler"):
        Project.open(project.path)


def test_a_schema_version_below_the_first_is_damage(made):
    project, _ = made
    project.close()
    conn = sqlite3.connect(project.path)
    conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(ProjectError, match="damaged"):
        Project.open(project.path)


def test_damaged_meta_is_a_project_error(made):
    project, _ = made
    project.close()
    conn = sqlite3.connect(project.path)
    conn.execute("UPDATE meta SET value = 'x' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(ProjectError, match="damaged"):
        Project.open(project.path)


def test_moving_project_with_images_keeps_working(made, tmp_path):
    project, sample = made
    project.close()
    moved = tmp_path / "moved elsewhere ü"
    moved.mkdir()
    shutil.move(str(project.path), moved / "p.labeler")
    shutil.move(str(sample.root), moved / "images")
    with Project.open(moved / "p.labeler") as again:
        assert again.images_root == moved / "images"
        im = again.image_by_path("plain/a.jpg")
        assert again.image_path(im.id).is_file()
        assert again.check_missing() == []


def test_moving_only_the_project_file_uses_the_absolute_root(made_here, tmp_path):
    project, sample = made_here
    project.close()
    other = tmp_path / "deep" / "er"
    other.mkdir(parents=True)
    shutil.move(str(project.path), other / "p.labeler")
    with Project.open(other / "p.labeler") as again:
        assert again.images_root == sample.root


def test_missing_images_root_does_not_crash(made_here, tmp_path):
    project, sample = made_here
    project.close()
    shutil.rmtree(sample.root)
    with Project.open(project.path) as again:
        assert not again.images_root_found
        missing = again.check_missing()
        assert len(missing) == len(sample.good)
        assert again.image_count(missing=True) == len(sample.good)
        new_root = tmp_path / "new root"
        make_image_folder(new_root, broken=False)
        again.set_images_root(new_root)
        assert again.check_missing() == []
    with Project.open(project.path) as third:
        assert third.images_root == new_root


def test_unicode_and_spaces_in_project_path(tmp_path):
    folder = tmp_path / "Прое кт ü"
    sample = make_image_folder(folder / "ima ges", broken=False)
    with Project.create(folder / "my project?#.labeler", sample.root, ["a"]) as p:
        p.add_images(sample.root, progress=False)
        assert p.image_count() == len(sample.good)
    with Project.open(folder / "my project?#.labeler") as p:
        assert p.image_count() == len(sample.good)


def test_too_old_sqlite_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr("labeler.store.database.sqlite3.sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr("labeler.store.database.sqlite3.sqlite_version", "3.31.1")
    (tmp_path / "i").mkdir()
    with pytest.raises(ProjectError, match=r"needs SQLite 3.35.0 or newer; this Python has 3.31.1"):
        Project.create(tmp_path / "p.labeler", tmp_path / "i", ["a"])
    with pytest.raises(ProjectError, match="needs SQLite"):
        Project.open(tmp_path / "p.labeler")


def test_symlinked_root_paths_are_recognised(tmp_path):
    from labeler.store import relative_to_root

    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    assert relative_to_root(tmp_path / "link" / "sub" / "a.jpg", real) == "sub/a.jpg"
    assert relative_to_root(real / "sub" / "a.jpg", tmp_path / "link") == "sub/a.jpg"
    assert relative_to_root(tmp_path / "other.jpg", real) is None
    assert relative_to_root(real, real) is None


def _umask() -> int:
    import os

    old = os.umask(0o022)
    os.umask(old)
    return old


def test_project_file_gets_the_usual_permissions(tmp_path):
    """A project on a shared drive must be readable by the team, as any file the user creates
    (the temporary file it is built in is private until renamed)."""
    root = tmp_path / "imgs"
    root.mkdir()
    target = tmp_path / "p.labeler"
    Project.create(target, root, ["a"]).close()
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()
    target.chmod(0o640)
    Project.create(target, root, ["a"], force=True).close()  # replacing keeps the file's mode
    assert target.stat().st_mode & 0o777 == 0o640


def test_force_replaces_only_projects(tmp_path):
    """--force is for replacing a project; a mistyped target (an image, a text file) is kept."""
    root = tmp_path / "imgs"
    root.mkdir()
    victim = tmp_path / "photo.jpg"
    victim.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ProjectError, match="not a labeler project; refusing to replace it"):
        Project.create(victim, root, ["a"], force=True)
    assert victim.read_bytes().startswith(b"\xff\xd8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "photo.jpg"]


def test_create_under_a_file_is_a_project_error(tmp_path):
    """``photos/camera.jpg/x.labeler``: the parent is a file, not a folder."""
    root = tmp_path / "imgs"
    root.mkdir()
    photo = tmp_path / "photos" / "camera.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"jpeg")
    for target in (photo / "x.labeler", photo / "deeper" / "x.labeler"):
        with pytest.raises(ProjectError) as caught:
            Project.create(target, root, ["a"])
        message = str(caught.value)
        assert message == f"cannot create {target}: {photo} is a file, not a folder"
    assert photo.read_bytes() == b"jpeg"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "photos"]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc (a folder no one can create files in)")
def test_create_where_files_cannot_be_made_is_a_project_error(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    with pytest.raises(ProjectError) as caught:
        Project.create("/proc/x.labeler", root, ["a"])
    message = str(caught.value)
    assert message.startswith("cannot create /proc/x.labeler: cannot write in /proc")
    assert "No such file or directory" in message and ".tmp" not in message


def test_os_errors_while_creating_are_project_errors(tmp_path, monkeypatch):
    """Any other OS failure (a full disk, a permission) keeps the OS's reason and leaves nothing."""
    root = tmp_path / "imgs"
    root.mkdir()
    target = tmp_path / "p.labeler"

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("labeler.store.project.os.replace", full)
    with pytest.raises(ProjectError, match=r"^cannot create .*p\.labeler: No space left on device$"):
        Project.create(target, root, ["a"])
    assert list(tmp_path.iterdir()) == [root]
