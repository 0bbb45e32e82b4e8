"""The key -> bytes cache, status counts and change polling."""

from __future__ import annotations

import pytest

from labeler.errors import UserInputError
from labeler.store import Project


def test_cache_roundtrip_and_deletion(project, img):
    other = project.image_by_path("plain/b.png").id
    project.cache_put("attention/sd14/fast/1/nose", b"\x00\x01" * 1000, image_id=img)
    project.cache_put("attention/sd14/fast/1/tail", b"t", image_id=img)
    project.cache_put("attention/sd14/paper/2/nose", b"p", image_id=other)
    project.cache_put("dift/x", b"d")
    assert project.cache_get("attention/sd14/fast/1/nose") == b"\x00\x01" * 1000
    assert project.cache_get("nope") is None
    project.cache_put("dift/x", b"e")  # replace
    assert project.cache_get("dift/x") == b"e"
    assert project.cache_keys("attention/sd14/fast/") == ["attention/sd14/fast/1/nose", "attention/sd14/fast/1/tail"]
    assert project.cache_delete(image_id=img) == 2
    assert project.cache_delete(prefix="attention/") == 1
    assert project.cache_keys() == ["dift/x"]
    assert project.cache_delete() == 1
    with pytest.raises(UserInputError):
        project.cache_put("k", b"v", image_id=999999)


def test_cache_prefix_is_literal(project):
    project.cache_put("a%_b/1", b"1")
    project.cache_put("axxb/1", b"2")
    assert project.cache_keys("a%_b/") == ["a%_b/1"]


def test_counts(project, img):
    other = project.image_by_path("plain/b.png").id
    project.set_points(img, {"nose": (1, 1), "tail": "absent", "left_eye": (2, 2, 1)})
    project.write_predictions([(other, {"nose": (1, 1, 0.5), "tail": (2, 2, 0.5)})], method="m", model=None)
    project.accept_predictions([other], names=["tail"])
    c = project.counts()
    assert c.images == project.image_count()
    assert c.images_by_status == {"unlabeled": c.images - 2, "partial": 1, "predicted": 1, "reviewed": 0}
    assert c.points == 5
    assert c.points_by_status == {"manual": 3, "predicted": 1, "accepted": 1, "corrected": 0}
    assert c.points_by_visibility == {0: 1, 1: 1, 2: 3}
    assert c.missing_images == 0


def test_has_changed_sees_other_writers(project, img):
    assert project.has_changed() is False
    with Project.open(project.path) as other:
        other.set_point(img, "nose", 1, 1)
    assert project.has_changed() is True
    assert project.has_changed() is False
    project.points(img)  # reading changes nothing
    assert project.has_changed() is False
    project.close()
    with pytest.raises(UserInputError, match="closed"):
        project.has_changed()


def test_point_counts_per_keypoint_in_one_query(project, img):
    from sqlalchemy import event

    other = project.image_by_path("plain/b.png").id
    project.write_predictions([(img, {"nose": (1, 1, 0.5), "tail": (2, 2, None)}), (other, {"nose": (3, 3, 0.9)})],
                              method="m", model=None)
    project.set_point(img, "left_eye", 4, 4)
    project.set_absent(other, "left_eye")
    project.accept_predictions([other])
    seen: list[str] = []

    def hook(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(project._engine, "before_cursor_execute", hook)
    try:
        every = project.point_counts()
    finally:
        event.remove(project._engine, "before_cursor_execute", hook)
    # every keypoint, in schema order, zero when it has no points (absent points count: they are rows)
    assert list(every.items()) == [("nose", 2), ("left_eye", 2), ("right_eye", 0), ("tail", 1)]
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1
    assert project.point_counts(statuses=["predicted"]) == {"nose": 1, "left_eye": 0, "right_eye": 0, "tail": 1}
    assert project.point_counts(statuses=["accepted", "manual"]) == {"nose": 1, "left_eye": 2, "right_eye": 0, "tail": 0}
    assert sum(project.point_counts().values()) == project.counts().points
    with pytest.raises(UserInputError, match="unknown point status 'done'"):
        project.point_counts(statuses=["done"])


def test_clear_cache_deletes_every_entry(project, img):
    project.cache_put("dift/a", b"a", image_id=img)
    project.cache_put("attention/b", b"b")
    assert project.clear_cache() == 2
    assert project.cache_keys() == [] and project.clear_cache() == 0
