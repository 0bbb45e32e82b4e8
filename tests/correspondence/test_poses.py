"""Engine-independent pose choice (plain or mirrored references) and the mutual-NN distance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labeler.correspondence.base import Prediction, ReferenceState
from labeler.correspondence.features import mutual_nn_distance, pose_map
from labeler.correspondence.poses import choose_pose, is_mirrored, pose_distances, tag_mirrored

PLAIN = {"nose": (5.0, 20.0, 0.5), "left_eye": (10.0, 40.0, 0.4)}
MIRRORED = {"nose": (15.0, 60.0, 0.3), "right_eye": (20.0, 80.0, None)}


def _state(names, pose_map=None):
    arrays = {"pose_map": pose_map} if pose_map is not None else {}
    return ReferenceState("m", "s", names, np.ones((len(names), 2)), (8, 8),
                          arrays={"d": np.ones((len(names), 2))}, image_arrays=arrays)


def test_distances_decide_over_confidence_and_a_tie_keeps_the_plain_pose():
    assert choose_pose(PLAIN, MIRRORED) == (PLAIN, False)  # confidence: 0.5 > 0.3 on the nose
    assert choose_pose(PLAIN, MIRRORED, (0.4, 0.3)) == (MIRRORED, True)
    assert choose_pose(PLAIN, MIRRORED, (0.3, 0.3)) == (PLAIN, False)
    assert choose_pose(PLAIN, {}, (0.9, 0.1)) == (PLAIN, False)


def test_keep_unpaired_fills_in_what_the_mirrored_pose_lacks():
    points, flipped = choose_pose(PLAIN, MIRRORED, (0.4, 0.3), keep_unpaired=True)
    assert flipped and points == {"nose": MIRRORED["nose"], "left_eye": PLAIN["left_eye"], "right_eye": MIRRORED["right_eye"]}


def test_pose_distances_average_each_pose_and_need_both():
    refs = [_state(("a",)), tag_mirrored(_state(("a",))), _state(()), tag_mirrored(_state(()))]
    assert is_mirrored(refs[1]) and refs[1].names == ("a:mirrored",) and not is_mirrored(refs[0])
    pred = Prediction(("a",), [[1, 1]], [0.5], meta={"pose_distances": [float("nan"), float("nan"), 0.2, 0.6]})
    assert pose_distances(pred, refs) == (0.2, 0.6)
    pred.meta["pose_distances"] = [0.1, float("nan"), 0.3, float("nan")]
    assert pose_distances(pred, refs) is None  # no mirrored distance: confidence decides
    assert pose_distances(Prediction(("a",), [[1, 1]], [0.5]), refs) is None


def test_mutual_nn_distance_is_zero_on_itself_and_grows_with_difference():
    g = torch.Generator().manual_seed(0)
    a = pose_map(torch.randn(16, 6, 5, generator=g))
    assert mutual_nn_distance(a, a) == pytest.approx(0.0, abs=1e-3)  # float32 cosines under a sqrt
    noisy = pose_map(a + 0.3 * torch.randn(a.shape, generator=g))
    other = pose_map(torch.randn(16, 6, 5, generator=g))
    assert 0 < mutual_nn_distance(a, noisy) < mutual_nn_distance(a, other)
    assert pose_map(torch.randn(4, 200, 100, generator=g)).shape == (4, 64, 32)  # pooled to 64 cells


def test_image_arrays_survive_serialisation_and_are_checked():
    state = _state(("a", "b"), np.zeros((3, 2, 2), np.float16))
    back = ReferenceState.from_bytes(state.to_bytes())
    assert back.image_arrays["pose_map"].dtype == np.float16 and back.image_arrays["pose_map"].shape == (3, 2, 2)
    bad = _state(("a",), np.full((3, 2, 2), np.nan, np.float32))
    with pytest.raises(ValueError, match="image array"):
        ReferenceState.from_bytes(bad.to_bytes())
