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
