"""Image paths stay POSIX and inside the images root."""

from __future__ import annotations

import pytest

from labeler.errors import UserInputError
from labeler.store import escapes, normalise_rel


@pytest.mark.parametrize(
    ("rel", "out"),
    [
        ("a/b.jpg", False),
        ("a/../b.jpg", False),
        ("./a.jpg", False),
        ("../a.jpg", True),
        ("a/../../b.jpg", True),
        ("..\\a.jpg", True),
        ("/etc/passwd", True),
        ("C:\\x.jpg", True),
        ("c:/x.jpg", True),
    ],
)
def test_escapes(rel, out):
    assert escapes(rel) is out


def test_normalise_rel():
    assert normalise_rel("a/./b//c.jpg") == "a/b/c.jpg"
    assert normalise_rel("a/x/../c.jpg") == "a/c.jpg"
    for bad in ("", "../a.jpg", "/abs.jpg", "."):
        with pytest.raises(UserInputError):
            normalise_rel(bad)


def _chains():
    """Every chain of 1 to 3 links (each hop inside or outside the images folder, spelled absolute,
    relative or alternating), ending at a file inside or outside."""
    import itertools

    for depth in (1, 2, 3):
        for hops in itertools.product(("inside", "outside"), repeat=depth - 1):
            for spelling in ("absolute", "relative", "mixed"):
                for end in ("inside", "outside"):
                    yield hops, spelling, end


@pytest.mark.parametrize("through_folder", [False, True], ids=["file-link", "folder-link"])
def test_real_image_file_refuses_exactly_what_really_lies_outside(tmp_path, through_folder):
    import os

    from labeler.store import OutsideImagesFolder, real_image_file

    for n, (hops, spelling, end) in enumerate(_chains()):
        case = tmp_path / str(n)
        root, outside = case / "images", case / "outside"
        (root / "sub").mkdir(parents=True)
        outside.mkdir()
        final = (root if end == "inside" else outside) / ("real-dir" if through_folder else "real.jpg")
        if through_folder:
            final.mkdir()
            (final / "x.jpg").write_bytes(b"x")
        else:
            final.write_bytes(b"x")
        target = final
        for k, where in enumerate(reversed(hops)):
            hop = (root if where == "inside" else outside) / f".hop{k}"
            rel = spelling == "relative" or (spelling == "mixed" and k % 2 == 0)
            os.symlink(os.path.relpath(target, hop.parent) if rel else target, hop)
            target = hop
        link = root / "sub" / ("linked" if through_folder else "a.jpg")
        rel = spelling != "absolute"
        os.symlink(os.path.relpath(target, link.parent) if rel else target, link)
        stored = "sub/linked/x.jpg" if through_folder else "sub/a.jpg"
        if end == "outside":
            with pytest.raises(OutsideImagesFolder):
                real_image_file(root, stored)
        else:
            assert real_image_file(root, stored).read_bytes() == b"x", (hops, spelling, end)
    # the images root itself may be a link (a dataset on another disk): inside it is inside
    os.symlink(tmp_path / "0" / "images", tmp_path / "root-link")
    assert real_image_file(tmp_path / "root-link", "sub/a.jpg" if not through_folder else "sub/linked/x.jpg")
