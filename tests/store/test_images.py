"""Registering images: every format, EXIF orientation, broken files, idempotence, missing files."""

from __future__ import annotations


import pytest

from labeler.errors import UserInputError
from labeler.imaging import ImageInfo
from labeler.store import PREDICTED, REVIEWED, UNLABELED, Project
from labeler.store.scanning import ProbedImage
from labeler.store.testing import make_image_folder, write_image


def test_sizes_are_as_displayed(project, sample):
    for im in project.list_images():
        assert (im.width, im.height) == sample.good[im.path], im.path
    rot = project.image_by_path("exif/rot6.jpg")
    assert (rot.width, rot.height, rot.orientation) == (40, 60, 6)
    assert project.image_by_path("exif/rot8.jpeg").orientation == 8
    assert len(rot.sha256) == 64 and rot.size_bytes > 0


def test_add_images_lists_broken_files_and_is_idempotent(tmp_path, where):
    sample = make_image_folder(tmp_path / "imgs", broken=True)
    (tmp_path / "imgs" / "sub").mkdir()
    with Project.create(where, sample.root, ["a"]) as p:
        report = p.add_images(sample.root, progress=False)
        assert set(report.added) == set(sample.good)
        reasons = {s.path: s.reason for s in report.skipped}
        assert set(reasons) == set(sample.broken)
        assert "empty" in reasons["broken/empty.jpg"]
        assert "not an image" in reasons["broken/notes.jpg"]
        assert "truncated" in reasons["broken/truncated.jpg"].lower()
        assert not any(".hidden" in a or a.endswith(".txt") for a in report.added)
        again = p.add_images(sample.root, progress=False)
        assert again.added == () and set(again.already_present) == set(sample.good)
        write_image(sample.root / "sub" / "new one.png", "rgb", (20, 10))
        third = p.add_images(sample.root / "sub", progress=False)
        assert third.added == ("sub/new one.png",)
        assert p.image_count() == len(sample.good) + 1


def test_add_images_from_a_file_list(project, sample):
    extra = write_image(sample.root / "late" / "x.png", "rgb", (10, 10))
    report = project.add_images([extra, sample.root / "plain" / "a.jpg", sample.root / "late" / "gone.png", sample.root / "README.txt"])
    assert report.added == ("late/x.png",)
    assert report.already_present == ("plain/a.jpg",)
    assert {s.path: s.reason for s in report.skipped} == {
        "late/gone.png": "file not found",
        "README.txt": "not an image file type",
    }


def test_add_images_refuses_paths_outside_the_root(project, tmp_path):
    outside = write_image(tmp_path / "elsewhere" / "o.png", "rgb", (10, 10))
    with pytest.raises(UserInputError, match="not inside the images root"):
        project.add_images([outside])
    with pytest.raises(UserInputError, match="not inside the project's images root"):
        project.add_images(tmp_path / "elsewhere")
    with pytest.raises(UserInputError, match="does not exist"):
        project.add_images(tmp_path / "nope")
    assert project.find_image("o.png") is None


def test_image_lookup(project, sample):
    a = project.image_by_path("plain/a.jpg")
    assert project.image(a.id) == a
    assert project.find_image("plain/./a.jpg") == a
    assert project.image_by_path(sample.root / "plain" / "a.jpg") == a  # a path on disk under the root
    assert project.image_path(a.id) == sample.root / "plain" / "a.jpg"
    uni = project.image_by_path("Ünïcødé folder with spaces/猫 the cat.jpg")
    assert project.image_path(uni).is_file()
    with pytest.raises(UserInputError, match="did you mean plain/a.jpg"):
        project.image_by_path("a.jpg")
    assert project.find_image("../images/plain/a.jpg") is None
    with pytest.raises(UserInputError, match="no image with id 9999"):
        project.image(9999)


def test_listing_filters_by_review_status_in_path_order(project, img):
    project.set_points(img, {"nose": (1, 1), "left_eye": (2, 2), "right_eye": (3, 3), "tail": "absent"})
    other = project.image_by_path("plain/b.png").id
    project.write_predictions([(other, {"nose": (1, 1, 0.5)})], method="m", model=None)
    index = project.image_index()
    assert [p for _, p, _ in index] == sorted(p for _, p, _ in index)
    assert project.image_index(REVIEWED) == [(img, "plain/a.jpg", REVIEWED)]
    assert [i for i, _, _ in project.image_index([REVIEWED, PREDICTED])] == [img, other]
    assert project.image_count(UNLABELED) == project.image_count() - 2
    assert [r.path for r in project.list_images(offset=1, limit=2)] == [p for _, p, _ in index[1:3]]
    with pytest.raises(UserInputError, match="unknown review status"):
        project.image_index("done")


def test_missing_files_are_flagged_not_fatal(project, sample):
    (sample.root / "plain" / "b.png").unlink()
    missing = project.check_missing()
    assert [m.path for m in missing] == ["plain/b.png"]
    assert project.image_by_path("plain/b.png").missing
    write_image(sample.root / "plain" / "b.png", "rgb", (50, 40))
    report = project.add_images(sample.root / "plain")
    assert report.reappeared == ("plain/b.png",)
    assert not project.image_by_path("plain/b.png").missing


def test_remove_images(project, img):
    project.set_point(img, "nose", 1, 1)
    project.cache_put("k", b"v", image_id=img)
    assert project.remove_images([img]) == 1
    assert project.find_image("plain/a.jpg") is None
    assert project.cache_get("k") is None
    assert project.counts().points == 0


def test_listing_and_filtering_100k_images(tmp_path, where):
    (tmp_path / "i").mkdir()
    info = ImageInfo(width=640, height=480, orientation=1, sha256="", size_bytes=1)
    probed = [ProbedImage(f"d{i % 100:03d}/img{i:06d}.jpg", info) for i in range(100_000)]
    with Project.create(where, tmp_path / "i", ["a", "b"], images=probed) as p:
        ids = [i for i, _, _ in p.image_index()[:5000]]
        p.write_predictions([(i, {"a": (1.0, 2.0, 0.5)}) for i in ids], method="m", model=None)
        index = p.image_index()
        predicted = p.image_index(PREDICTED)
        n = p.image_count(UNLABELED)
    assert len(index) == 100_000 and len(predicted) == 5000 and n == 95_000


def test_lookup_ignores_unicode_normalisation(tmp_path, where):
    """A name typed (or written by another tool) in NFC finds the file stored in NFD, and back."""
    import unicodedata

    root = tmp_path / "images"
    nfd = unicodedata.normalize("NFD", "café/naïve.png")
    nfc = unicodedata.normalize("NFC", "crème.png")
    write_image(root / nfd, "rgb", (8, 6))
    write_image(root / nfc, "rgb", (8, 6))
    with Project.create(where, root, ["a"]) as project:
        project.add_images(root)
        assert project.image_by_path(unicodedata.normalize("NFC", nfd)).path == nfd
        assert project.find_image(unicodedata.normalize("NFD", nfc)).path == nfc
        assert project.image_by_path(root / unicodedata.normalize("NFC", nfd)).path == nfd


def test_a_renamed_or_moved_file_keeps_its_labels(tmp_path, where):
    """A file renamed (or moved to another sub-folder) after it was labelled is recognised by its
    content when added again: the image keeps its id and points under the new path. Copies of
    an image that is still in place are new images."""
    root = tmp_path / "images"
    write_image(root / "a.jpg", "rgb", (32, 24), seed=1)
    write_image(root / "b.jpg", "rgb", (32, 24), seed=2)
    with Project.create(where, root, ["nose"]) as project:
        project.add_images(root)
        a = project.image_by_path("a.jpg")
        project.set_point(a.id, "nose", 3, 4)
        (root / "moved").mkdir()
        (root / "a.jpg").rename(root / "moved" / "renamed a.jpg")
        (root / "b copy.jpg").write_bytes((root / "b.jpg").read_bytes())
        report = project.add_images(root)
        assert report.renamed == (("a.jpg", "moved/renamed a.jpg"),)
        assert report.added == ("b copy.jpg",)
        moved = project.image_by_path("moved/renamed a.jpg")
        assert moved.id == a.id and not moved.missing
        assert project.points(a.id)["nose"].x == 3
        assert project.find_image("a.jpg") is None
        assert project.image_count() == 3


def test_symlinked_sub_folders_are_searched_once(tmp_path):
    """A link inside the images folder to a place inside it is followed once (a link back up the
    tree does not loop); a dataset linked in from elsewhere is scanned when its link is named as
    the folder (a plain scan of the root lists it as skipped: see test_hostile_files)."""
    import os

    from labeler.store import find_image_files

    root = tmp_path / "images"
    write_image(root / "own.jpg", "rgb", (8, 6))
    write_image(root / "sub" / "in.jpg", "rgb", (8, 6))
    write_image(tmp_path / "elsewhere" / "linked.jpg", "rgb", (8, 6))
    os.symlink(tmp_path / "elsewhere", root / "data")
    os.symlink(root, root / "data2")  # a loop
    os.symlink(root / "sub", root / "sub2")  # the same real folder twice
    found = [p.relative_to(root).as_posix() for p in find_image_files(root)]
    assert found == ["own.jpg", "sub/in.jpg"]
    assert [p.name for p in find_image_files(root / "data", within=root)] == ["linked.jpg"]
