"""A file replaced by another picture is noticed (size + mtime, then the sha256), and the
schema step that records mtimes upgrades a real version-1 file."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from labeler.store import SCHEMA_VERSION, Project
from labeler.store.testing import write_image

V1 = Path(__file__).parent / "data" / "v1-small"


def _replace_keeping_size(path: Path, seed: int) -> None:
    """Another picture with the same number of bytes (a PNG padded after its end: decoders
    ignore trailing bytes), written a second later."""
    st = path.stat()
    other = path.with_name("other" + path.suffix)
    for s in range(seed, seed + 500):
        write_image(other, size=(50, 40), seed=s)
        if other.stat().st_size <= st.st_size:
            break
    data = other.read_bytes()
    other.unlink()
    assert len(data) <= st.st_size
    path.write_bytes(data + b"\0" * (st.st_size - len(data)))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_a_replaced_file_is_flagged_and_a_touched_one_is_not(made):
    project, sample = made
    a = project.image_by_path("plain/b.png")
    b = project.image_by_path("formats/gray.png")
    path = project.image_path(a)
    _replace_keeping_size(path, 50)
    assert path.stat().st_size == a.size_bytes
    os.utime(project.image_path(b), ns=(0, 10**18))  # touched: same bytes, new mtime
    check = project.check_files()
    assert [r.path for r in check.changed] == ["plain/b.png"]
    assert project.image(a.id).changed and not project.image(b.id).changed
    assert project.list_images(changed=True)[0].id == a.id
    assert project.image_count(changed=True) == 1
    # the original is put back: no longer flagged
    write_image(path, "rgb", (50, 40), seed=1)
    assert project.check_files().changed == ()
    assert not project.image(a.id).changed


def test_new_images_record_their_mtime(made):
    project, _ = made
    rec = project.image_by_path("plain/a.jpg")
    assert rec.mtime_ns == project.image_path(rec).stat().st_mtime_ns


def test_a_real_version_1_file_is_upgraded(tmp_path):
    shutil.copytree(V1, tmp_path / "v1")
    path = tmp_path / "v1" / "v1.labeler"
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "1"
    conn.close()
    with Project.open(path) as project:
        assert project.schema_version == SCHEMA_VERSION >= 2
        a = project.image_by_path("a.png")
        assert a.mtime_ns is None and not a.changed  # unknown until the first check
        assert project.points(a.id)["nose"].x == 3
        assert project.check_files().changed == ()
        assert project.image(a.id).mtime_ns == project.image_path(a).stat().st_mtime_ns
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    cols = {r[1] for r in conn.execute("PRAGMA table_info(image)")}
    assert {"mtime_ns", "changed"} <= cols
    conn.close()
    with Project.open(path) as again:  # a second open runs nothing
        assert again.schema_version == SCHEMA_VERSION
