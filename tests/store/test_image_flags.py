"""Image flags (skip, no object, flag for later): set, clear, list, filter, refuse unknown
ones, and schema version 3 adds the column to an older file."""

from __future__ import annotations

import sqlite3

import pytest

from labeler.errors import UserInputError
from labeler.store import FLAG_LATER, FLAG_NO_OBJECT, FLAG_SKIP, SCHEMA_VERSION, Project
from labeler.store.testing import make_project


@pytest.fixture
def project(tmp_path):
    p, _ = make_project(tmp_path)
    yield p
    p.close()


def test_flags_are_set_listed_filtered_and_cleared(project):
    ids = [r[0] for r in project.image_index()][:4]
    others = len(project.image_index()) - 4
    assert project.set_image_flag(ids[0], FLAG_SKIP) == 1
    assert project.set_image_flag([ids[1], ids[2]], FLAG_NO_OBJECT) == 2
    assert project.image(ids[0]).flag == FLAG_SKIP and project.image(ids[3]).flag is None
    assert project.image_flags() == {ids[0]: FLAG_SKIP, ids[1]: FLAG_NO_OBJECT, ids[2]: FLAG_NO_OBJECT}
    assert [r[0] for r in project.image_index(flag=FLAG_NO_OBJECT)] == [ids[1], ids[2]]
    assert [r[0] for r in project.image_index(flag=None)][:1] == [ids[3]]
    assert len(project.image_index(flag=None)) == 1 + others
    assert [i.flag for i in project.list_images()][:4] == [FLAG_SKIP, FLAG_NO_OBJECT, FLAG_NO_OBJECT, None]
    project.set_image_flag(ids[0], FLAG_LATER)
    project.set_image_flag(ids[1], None)
    assert project.image_flags() == {ids[0]: FLAG_LATER, ids[2]: FLAG_NO_OBJECT}
    with pytest.raises(UserInputError, match="unknown image flag 'maybe'"):
        project.set_image_flag(ids[0], "maybe")


@pytest.mark.sqlite_only
def test_a_schema_1_file_gains_the_flag_column_with_its_check(tmp_path):
    """Alembic 0005 on a real file written before flags existed."""
    import shutil
    from pathlib import Path

    shutil.copytree(Path(__file__).parent / "data" / "v1", tmp_path / "v1")
    path = tmp_path / "v1" / "v1.labeler"
    with Project.open(path) as again:
        assert again.schema_version == SCHEMA_VERSION
        first = again.image_index()[0][0]
        again.set_image_flag(first, FLAG_SKIP)
        assert again.image(first).flag == FLAG_SKIP
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError):  # the column refuses what the store would
        conn.execute("UPDATE image SET flag = 'maybe'")
    conn.close()
