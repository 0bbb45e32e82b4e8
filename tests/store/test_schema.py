"""Keypoint schema: validation and later edits."""

from __future__ import annotations

import pytest

from labeler.errors import UserInputError
from labeler.store import PARTIAL, REVIEWED, Schema, validate_schema


@pytest.mark.parametrize(
    ("keypoints", "skeleton", "flips", "message"),
    [
        (["a", "a"], [], [], "listed twice"),
        (["a", ""], [], [], "non-empty"),
        ([" a"], [], [], "spaces"),
        (["a,b"], [], [], "must not contain"),
        (["a=b"], [], [], "must not contain"),
        (["a", "b"], [("a", "c")], [], "unknown keypoint 'c'"),
        (["a", "b"], [("a", "a")], [], "itself"),
        (["a", "b"], [("a", "b"), ("b", "a")], [], "twice"),
        (["a", "b"], [], [("a", "x")], "unknown keypoint 'x'"),
        (["a", "b", "c"], [], [("a", "b"), ("b", "c")], "more than one flip pair"),
        (["a", "b"], [], [("a", "a")], "itself"),
    ],
)
def test_bad_schemas_are_refused(keypoints, skeleton, flips, message):
    with pytest.raises(UserInputError, match=message):
        validate_schema(keypoints, skeleton, flips)


def test_schema_helpers():
    s = Schema(("l", "r", "c"), (("l", "c"),), (("l", "r"),))
    assert s.flip_of("l") == "r" and s.flip_of("r") == "l" and s.flip_of("c") is None
    assert s.flip_permutation() == (1, 0, 2)


def test_add_rename_reorder_keep_points(project, img):
    project.set_point(img, "nose", 1, 2)
    project.add_keypoint("chin", position=1)
    assert project.schema().keypoints == ("nose", "chin", "left_eye", "right_eye", "tail")
    project.rename_keypoint("nose", "snout")
    assert project.points(img)["snout"].x == 1
    assert project.schema().skeleton[0] == ("snout", "left_eye")
    assert project.schema().flip_pairs == (("left_eye", "right_eye"),)
    project.reorder_keypoints(["tail", "right_eye", "left_eye", "chin", "snout"])
    assert project.schema().keypoints == ("tail", "right_eye", "left_eye", "chin", "snout")
    with pytest.raises(UserInputError, match="exactly once"):
        project.reorder_keypoints(["tail"])
    with pytest.raises(UserInputError, match="already exists"):
        project.rename_keypoint("tail", "snout")
    with pytest.raises(UserInputError, match="already exists"):
        project.add_keypoint("tail")
    with pytest.raises(UserInputError, match="unknown keypoint"):
        project.rename_keypoint("nope", "x")


def test_adding_a_keypoint_reopens_reviewed_images(project, img):
    project.set_points(img, {"nose": (1, 1), "left_eye": (2, 2), "right_eye": "absent", "tail": (3, 3)})
    assert project.image(img).review_status == REVIEWED
    project.add_keypoint("chin")
    assert project.image(img).review_status == PARTIAL
    project.remove_keypoint("chin")
    assert project.image(img).review_status == REVIEWED


def test_remove_keypoint_needs_confirmation_when_it_has_points(project, img):
    project.set_point(img, "tail", 5, 5)
    with pytest.raises(UserInputError, match="has 1 points"):
        project.remove_keypoint("tail")
    assert "tail" in project.points(img)
    assert project.remove_keypoint("tail", delete_points=True) == 1
    assert project.schema().keypoints == ("nose", "left_eye", "right_eye")
    assert ("nose", "tail") not in project.schema().skeleton
    assert "tail" not in project.points(img)
    assert project.remove_keypoint("left_eye") == 0
    assert project.schema().flip_pairs == ()  # its pair went with it


def test_set_edges_and_flip_pairs(project):
    project.set_skeleton([("left_eye", "right_eye")])
    project.set_flip_pairs([])
    s = project.schema()
    assert s.skeleton == (("left_eye", "right_eye"),) and s.flip_pairs == ()
    with pytest.raises(UserInputError):
        project.set_flip_pairs([("nose", "nose")])
    assert project.schema() == s


def test_define_schema_only_once(tmp_path, where):
    from labeler.store import Project

    (tmp_path / "i").mkdir()
    with Project.create(where, tmp_path / "i") as p:
        assert p.schema() == Schema()
        p.define_schema(["a", "b"], [("a", "b")], [("a", "b")])
        assert p.schema() == Schema(("a", "b"), (("a", "b"),), (("a", "b"),))
        with pytest.raises(UserInputError, match="already has"):
            p.define_schema(["c"])


def test_edit_schema_is_one_transaction_with_renames_swaps_and_guarded_removals(project):
    """The app's Edit keypoints and `labeler schema` both end in edit_schema: all or nothing."""
    image = project.list_images()[0].id
    project.set_points(image, {"nose": (1, 1), "left_eye": (2, 2), "right_eye": (3, 3)})
    before = project.schema()
    with pytest.raises(UserInputError, match=r"removing tail.*nose \(1 points\)|removing nose \(1 points\)"):
        project.edit_schema(["left_eye", "right_eye", "tail"], renames={})
    with pytest.raises(UserInputError, match="listed twice"):
        project.edit_schema(["nose", "nose"], delete_points=True)
    assert project.schema() == before
    s = project.edit_schema(["nose", "right_eye", "left_eye", "beak"], [("nose", "beak")], [("left_eye", "right_eye")],
                            renames={"left_eye": "right_eye", "right_eye": "left_eye"}, delete_points=True)
    assert s.keypoints == ("nose", "right_eye", "left_eye", "beak") and s.skeleton == (("nose", "beak"),)
    points = project.points(image)
    assert (points["right_eye"].x, points["left_eye"].x, points["nose"].x) == (2, 3, 1)
    assert "tail" not in project.point_counts()
