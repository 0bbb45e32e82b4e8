"""`labeler init` and `labeler add-images`."""

from __future__ import annotations

import pytest

from labeler.store import Project
from labeler.store.testing import write_image


def test_init_registers_readable_images_and_lists_the_rest(cli, images, tmp_path):
    path = tmp_path / "p.labeler"
    r = cli("init", path, "--images", images.root, "--keypoints", "a,b", "--skeleton", "a-b", "--flip", "a:b")
    assert r.code == 1  # created, but some files were left out (listed)
    assert f"images: {len(images.good)}" in r.out
    assert "skipped 3 file(s)" in r.err
    for rel in images.broken:
        assert rel in r.err
    assert "damaged or truncated" in r.err and "empty" in r.err and "not an image" in r.err
    with Project.open(path) as p:
        assert p.image_count() == len(images.good)
        assert p.schema().skeleton == (("a", "b"),) and p.schema().flip_pairs == (("a", "b"),)
        rot = p.image_by_path("exif/rot8.jpeg")
        assert (rot.width, rot.height) == (40, 60)


def test_init_never_clobbers(cli, project, images):
    before = project.read_bytes()
    r = cli("init", project, "--images", images.root, "--keypoints", "x")
    assert r.code == 2 and "already exists" in r.err and "--force" in r.err
    assert project.read_bytes() == before
    r = cli("init", project, "--images", images.root, "--keypoints", "x", "--force")
    assert r.code == 1  # replaced; the 3 unreadable sample files are listed again
    with Project.open(project) as p:
        assert p.schema().keypoints == ("x",)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "does not exist"),
        ("empty", "no images found"),
        ("only-broken", "none of the 3 image files"),
        ("a-file", "is not a folder"),
    ],
)
def test_init_writes_nothing_without_readable_images(cli, tmp_path, setup, message):
    folder = tmp_path / "imgs"
    if setup == "empty":
        (folder / "sub").mkdir(parents=True)
        (folder / "notes.txt").write_text("x")
    elif setup == "only-broken":
        for kind in ("truncated", "empty", "text"):
            write_image(folder / f"{kind}.jpg", kind, (64, 48))
    elif setup == "a-file":
        folder.write_text("x")
    r = cli("init", tmp_path / "p.labeler", "--images", folder, "--keypoints", "a")
    assert r.code == 2 and message in r.err
    assert r.err.startswith("error: ")
    assert not (tmp_path / "p.labeler").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".p.labeler")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keypoints", "a,a"], "listed twice"),
        (["--keypoints", "a,,b"], "empty item"),
        (["--keypoints", "a,b", "--skeleton", "a-c"], "NAME-NAME"),
        (["--keypoints", "a,b", "--skeleton", "a"], "NAME-NAME"),
        (["--keypoints", "a,b", "--flip", "a-b"], "LEFT:RIGHT"),
        (["--keypoints", "a,b", "--flip", "a:c"], "unknown keypoint 'c'"),
        (["--keypoints", "a,b,c", "--flip", "a:b", "--flip", "b:c"], "more than one flip pair"),
    ],
)
def test_init_refuses_bad_schemas(cli, images, tmp_path, args, message):
    r = cli("init", tmp_path / "p.labeler", "--images", images.root, *args)
    assert r.code == 2 and message in r.err
    assert not (tmp_path / "p.labeler").exists()


def test_keypoint_names_may_contain_dashes(cli, images, tmp_path):
    path = tmp_path / "p.labeler"
    r = cli("init", path, "--images", images.root, "--keypoints", "left-eye,right-eye,nose",
            "--skeleton", "left-eye-nose,nose-right-eye", "--flip", "left-eye:right-eye")
    assert r.code == 1, r.err  # the sample folder's unreadable files
    with Project.open(path) as p:
        assert p.schema().skeleton == (("left-eye", "nose"), ("nose", "right-eye"))


def test_add_images_is_idempotent(cli, project, images):
    r = cli("add-images", project, images.root)
    assert r.code == 1 and f"added 0 image(s); {len(images.good)} already" in r.out  # the root's 3 unreadable files, listed again
    write_image(images.root / "new dir ü" / "n.png", "rgb", (20, 10))
    r = cli("add-images", project, images.root / "new dir ü")
    assert r.code == 0 and "added 1 image(s)" in r.out
    r = cli("add-images", project)  # the whole root
    assert r.code == 1 and "added 0 image(s)" in r.out
    with Project.open(project) as p:
        assert p.image_count() == len(images.good) + 1


def test_add_images_bad_folders(cli, project, images, tmp_path):
    assert "does not exist" in cli("add-images", project, images.root / "nope").err
    (images.root / "empty").mkdir()
    r = cli("add-images", project, images.root / "empty")
    assert r.code == 2 and "no images found" in r.err
    write_image(tmp_path / "outside" / "o.png", "rgb", (8, 8))
    r = cli("add-images", project, tmp_path / "outside")
    assert r.code == 2 and "not inside the project's images root" in r.err


def test_renamed_deleted_and_changed_files_can_be_dealt_with(cli, project, images):
    """After init the annotator renames one file, deletes one and replaces one with another
    picture: status names the missing ones, add-images follows the rename (labels kept), and
    remove-images forgets the others so propagate stops listing them as failures."""
    from labeler.store.testing import write_image

    assert cli("label", project, "plain/a.jpg", "nose=10,20").code == 0
    root = images.root
    (root / "plain/a.jpg").rename(root / "plain/a renamed.jpg")
    (root / "plain/b.png").unlink()
    r = cli("status", project)
    assert "missing files 2" in r.out and "plain/a.jpg" in r.out and "plain/b.png" in r.out
    r = cli("add-images", project)
    assert r.code == 1 and "plain/a.jpg -> plain/a renamed.jpg" in r.out
    assert "1 image(s) in the project are missing on disk" in r.out
    r = cli("label", project, "plain/a renamed.jpg", "left_eye=1,2")
    assert r.code == 0 and "nose: 10,20" in r.out
    r = cli("remove-images", project, "--missing")
    assert r.code == 0 and "removed 1 image(s)" in r.out and "plain/b.png" in r.out
    assert "missing files 0" in cli("status", project).out
    r = cli("remove-images", project, "plain/nope.jpg")
    assert r.code == 2 and "no image 'plain/nope.jpg'" in r.err
    r = cli("remove-images", project)
    assert r.code == 2 and "--missing" in r.err
    changed = min(p for p in images.good if p.startswith("formats/") and p.endswith(".png"))
    write_image(root / changed, "rgb", (13, 7), seed=9)  # another picture under the same name
    r = cli("remove-images", project, changed)
    assert r.code == 0 and "removed 1 image(s)" in r.out
    r = cli("add-images", project, root / changed)
    assert r.code == 0 and "added 1 image(s)" in r.out


def test_images_folder_moved_without_the_project(cli, project, images, tmp_path):
    """The images folder moved on its own: status says so and how to fix it, and
    add-images --images-root points the project at the new place, labels kept."""
    assert cli("label", project, "plain/a.jpg", "nose=10,20").code == 0
    moved = tmp_path / "elsewhere" / "pictures"
    moved.parent.mkdir()
    images.root.rename(moved)
    r = cli("status", project)
    assert "NOT FOUND" in r.out and "--images-root" in r.out
    r = cli("add-images", project)
    assert r.code == 2 and "--images-root" in r.err
    r = cli("add-images", project, "--images-root", moved)
    assert r.code == 1, r.err  # done; the root's unreadable files are listed
    assert f"images root is now {moved}" in r.out and "added 0 image(s)" in r.out
    r = cli("status", project)
    assert "NOT FOUND" not in r.out and "missing files 0" in r.out
    assert "nose: 10,20" in cli("label", project, "plain/a.jpg", "left_eye=1,1").out
    r = cli("add-images", project, "--images-root", tmp_path / "nope")
    assert r.code == 2 and "does not exist" in r.err
