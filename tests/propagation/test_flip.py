"""Flip-aware matching: mirrored references (x -> W - x, names swapped), the better pose wins."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from propagation_fixtures import FakeMatcher, label

from labeler.correspondence.base import Prediction
from labeler.propagation import PropagationConfig, propagate
from labeler.propagation.flip import MIRROR_SUFFIX, choose_pose, flip_enabled, mirror_points, split_poses
from labeler.store import Project, Schema

SCHEMA = Schema(("nose", "left_eye", "right_eye"), (), (("left_eye", "right_eye"),))


def test_mirror_points_flip_x_and_swap_names():
    pts = {"nose": (10.0, 5.0), "left_eye": (3.0, 4.0), "right_eye": (17.5, 4.0)}
    assert mirror_points(pts, 20, SCHEMA) == {"nose": (10.0, 5.0), "right_eye": (17.0, 4.0), "left_eye": (2.5, 4.0)}


def test_flip_default_follows_the_schema():
    assert flip_enabled(None, SCHEMA) is True
    assert flip_enabled(None, Schema(("a", "b"))) is False
    assert flip_enabled(False, SCHEMA) is False and flip_enabled(True, Schema(("a",))) is True


def test_split_and_choose_pose():
    names = ("nose", "left_eye", "nose" + MIRROR_SUFFIX, "right_eye" + MIRROR_SUFFIX)
    pred = Prediction(names, [[10, 10], [20, 20], [30, 30], [40, 40]], [0.5, 0.4, 0.9, float("nan")])
    plain, mirrored = split_poses(pred, (2.0, 0.5))
    assert plain == {"nose": (5.0, 20.0, 0.5), "left_eye": (10.0, 40.0, 0.4)}
    assert mirrored == {"nose": (15.0, 60.0, 0.9), "right_eye": (20.0, 80.0, None)}
    # compared on the keypoints both poses predict (nose): 0.9 > 0.5, the mirrored pose wins whole
    assert choose_pose(plain, mirrored) == (mirrored, True)
    assert choose_pose(plain, {"right_eye": (1.0, 1.0, 1.0)}) == (plain, False)  # nothing in common
    assert choose_pose(plain, {"nose": (1.0, 1.0, 0.5)}) == (plain, False)  # a tie keeps the plain pose


def test_fake_engine_prefers_plain_pose_and_records_it(project):
    label(project, "plain/a.jpg", {"nose": (32.0, 24.0), "left_eye": (16.0, 12.0)})
    s = propagate(project, PropagationConfig(method="fake"), matcher=FakeMatcher())  # flip on (schema has a pair)
    assert s.flipped_images == 0
    rec = project.image(project.find_image("plain/b.png").id)
    assert rec.pred_flipped is False
    s = propagate(project, PropagationConfig(method="fake", force=True), matcher=FakeMatcher(mirror_confidence=0.95))
    assert s.flipped_images == s.predicted_images
    b = project.find_image("plain/b.png")  # 50 x 40
    pts = project.points(b.id)
    assert project.image(b.id).pred_flipped is True
    # the mirrored reference's left eye at 64 - 16 = 48 is called right_eye
    assert set(pts) == {"nose", "right_eye"} and pts["right_eye"].x == pytest.approx(48 / 64 * 50)


def _mirror_project(tmp_path, photo, size) -> Project:
    """ref.png (the photo at ``size``), mirrored.png (its mirror image) and same.png (a copy), in a
    project whose schema pairs left_eye with right_eye."""
    from labeler.store import find_image_files, probe_files, relative_to_root

    photo = np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.BICUBIC))
    root = tmp_path / "images"
    root.mkdir()
    Image.fromarray(photo).save(root / "ref.png")
    Image.fromarray(np.ascontiguousarray(photo[:, ::-1])).save(root / "mirrored.png")
    Image.fromarray(photo).save(root / "same.png")
    probed, _ = probe_files([(f, relative_to_root(f, root)) for f in find_image_files(root)], progress=False)
    return Project.create(tmp_path / "p.labeler", root, ("nose", "left_eye", "right_eye"), (),
                          (("left_eye", "right_eye"),), images=probed)


def test_real_photo_seen_mirrored_is_matched_with_left_and_right_swapped(tmp_path, photos):
    """The target is the reference photo flipped: the mirrored pose must win, and each point
    lands on the mirror image of its counterpart (a mirrored left eye is a right eye)."""
    pts = {"nose": (118.3, 95.2), "left_eye": (95.6, 62.1), "right_eye": (150.2, 66.7)}
    with _mirror_project(tmp_path, photos["chelsea"], (240, 160)) as project:
        label(project, "ref.png", pts)
        cfg = PropagationConfig(method="classical", overrides={"work_side": 256})
        s = propagate(project, cfg)
        assert s.predicted_images == 2 and not s.failed
        mirrored = project.find_image("mirrored.png")
        same = project.find_image("same.png")
        assert project.image(mirrored.id).pred_flipped is True
        assert project.image(same.id).pred_flipped is False
        got = project.points(mirrored.id)
        truth = {"nose": (240 - 118.3, 95.2), "right_eye": (240 - 95.6, 62.1), "left_eye": (240 - 150.2, 66.7)}
        for name, (x, y) in truth.items():
            assert np.hypot(got[name].x - x, got[name].y - y) <= 3.0, (name, got[name], (x, y))
        got = project.points(same.id)
        for name, (x, y) in pts.items():
            assert np.hypot(got[name].x - x, got[name].y - y) <= 3.0, (name, got[name], (x, y))
        # Without flip-aware matching the mirrored photo is matched in the plain pose only.
        s = propagate(project, PropagationConfig(method="classical", overrides={"work_side": 256}, flip=False))
        assert s.predicted_images == 2 and project.image(mirrored.id).pred_flipped is False


def test_fusion_chooses_the_pose_by_pose_maps_cached_once_per_image(tmp_path, photos):
    """--method fusion (tiny random weights): the mutual-nearest-neighbour pose criterion. The
    target that is the reference's mirror image is at distance 0 from the mirrored pose; each
    reference image keeps one pose map per pose in the cache, not one per keypoint."""
    with _mirror_project(tmp_path, photos["astronaut"], (120, 80)) as project:
        label(project, "ref.png", {"nose": (60.2, 50.1), "left_eye": (45.3, 30.4), "right_eye": (75.1, 31.0)})
        cfg = PropagationConfig(method="fusion", model="tiny-random", device="cpu")
        s = propagate(project, cfg)
        assert s.predicted_images == 2 and not s.failed
        assert project.image(project.find_image("mirrored.png").id).pred_flipped is True
        assert project.image(project.find_image("same.png").id).pred_flipped is False
        assert len(project.cache_keys("posemap/")) == 2  # plain and mirror, for one reference image
        assert len(project.cache_keys("refstate/")) == 6  # three keypoints, two poses
        from labeler.correspondence.base import ReferenceState

        assert all(not ReferenceState.from_bytes(project.cache_get(k)).image_arrays for k in project.cache_keys("refstate/"))
        project.cache_delete(prefix="posemap/")  # a lost pose map is prepared again, keypoints are not
        s = propagate(project, PropagationConfig(method="fusion", model="tiny-random", device="cpu", force=True))
        assert s.predicted_images == 2 and len(project.cache_keys("posemap/")) == 2
        assert project.image(project.find_image("mirrored.png").id).pred_flipped is True
