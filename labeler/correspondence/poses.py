"""Flip-aware matching, engine-independent (GeoAware-SC's adaptive pose alignment, DESIGN.md section 4).

About 60% of keypoints have a left/right look-alike, so a target seen from the other side is
easily matched with left and right swapped. Each reference is therefore also used mirrored: the
image flipped horizontally (``x -> W - x``) and every keypoint renamed to its flip counterpart (a
mirrored left eye looks like a right eye). Per target both poses are predicted in ONE engine call:
the mirrored states' keypoints are renamed ``name + MIRROR_SUFFIX`` (``:`` cannot occur in keypoint
names), so an engine computes the target's features once and simply has more keypoints to locate.

The pose kept per target is the one whose reference images are closer to it in feature space
(mean distance of mutual nearest neighbours, when the engine's ``pose_criterion`` is
``mutual_nn`` and it reported ``pose_distances``), else the one whose predictions are more
confident on the keypoints both poses predict. Propagation and ``labeler eval`` both use this
module; the first takes its flip pairs from the project's schema, the second from the dataset.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from labeler.correspondence.base import Prediction, ReferenceState

MIRROR_SUFFIX = ":mirrored"
#: ``ReferenceState.meta`` key marking a state used in the mirrored pose.
POSE_KEY = "pose"
MIRRORED = "mirrored"

#: name -> (x, y, confidence or None), in the caller's pixels.
Points = dict[str, tuple[float, float, float | None]]
#: A keypoint's flip counterpart, or None when it has none (it maps onto itself).
FlipOf = Callable[[str], str | None]


def mirror_image(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, ::-1])


def mirror_points(points: Mapping[str, tuple[float, float]], width: float, flip_of: FlipOf) -> dict[str, tuple[float, float]]:
    """Points of the mirrored image: ``x -> width - x``, names swapped by the flip pairs."""
    return {(flip_of(name) or name): (width - x, y) for name, (x, y) in points.items()}


def tag_mirrored(state: ReferenceState) -> ReferenceState:
    """The same state marked as the mirrored pose, every keypoint renamed ``name + MIRROR_SUFFIX``."""
    return dataclasses.replace(
        state,
        names=tuple(n + MIRROR_SUFFIX for n in state.names),
        meta={**state.meta, POSE_KEY: MIRRORED},
    )


def is_mirrored(state: ReferenceState) -> bool:
    return state.meta.get(POSE_KEY) == MIRRORED


def split_poses(prediction: Prediction, scale: tuple[float, float] = (1.0, 1.0)) -> tuple[Points, Points]:
    """(plain, mirrored) predictions in the caller's pixels (array coordinates divided by ``scale``)."""
    sx, sy = scale
    plain: Points = {}
    mirrored: Points = {}
    for i, name in enumerate(prediction.names):
        x, y = float(prediction.xy[i, 0]) / sx, float(prediction.xy[i, 1]) / sy
        conf = float(prediction.confidence[i])
        value = (x, y, conf if math.isfinite(conf) else None)
        if name.endswith(MIRROR_SUFFIX):
            mirrored[name[: -len(MIRROR_SUFFIX)]] = value
        else:
            plain[name] = value
    return plain, mirrored


def pose_distances(prediction: Prediction, references: Sequence[ReferenceState]) -> tuple[float, float] | None:
    """(plain, mirrored): the mean ``pose_distances`` the engine reported for the references of
    each pose; None when either pose has no finite distance (the engine compares confidence)."""
    reported = prediction.meta.get("pose_distances")
    if not isinstance(reported, (list, tuple)) or len(reported) != len(references):
        return None
    plain: list[float] = []
    mirrored: list[float] = []
    for ref, d in zip(references, reported):
        if isinstance(d, (int, float)) and math.isfinite(d):
            (mirrored if is_mirrored(ref) else plain).append(float(d))
    if not plain or not mirrored:
        return None
    return float(np.mean(plain)), float(np.mean(mirrored))


def _mean_conf(points: Points, names: set[str]) -> float:
    vals = [points[n][2] for n in names]
    return float(np.mean([0.0 if v is None else v for v in vals]))


def choose_pose(
    plain: Points,
    mirrored: Points,
    distances: tuple[float, float] | None = None,
    *,
    keep_unpaired: bool = False,
) -> tuple[Points, bool]:
    """The better pose and whether it is the mirrored one.

    With ``distances`` (plain, mirrored) the closer pose wins, a tie keeping the plain one (as
    GeoAware-SC: flip only when the flipped distance is smaller). Without, confidences are compared
    on the keypoints both poses predict; with none in common (or no mirrored prediction) the
    plain pose is kept, and a tie keeps it too. ``keep_unpaired``: when the mirrored pose wins,
    keypoints it does not predict keep their plain prediction (the authors' evaluation does this);
    otherwise the mirrored pose is taken whole (propagation: a point the chosen pose cannot place
    is better left for the annotator than placed by the pose judged wrong).
    """
    if not mirrored:
        return plain, False
    if not plain:
        return mirrored, True
    if distances is not None:
        flip = distances[1] < distances[0]
    else:
        common = set(plain) & set(mirrored)
        flip = bool(common) and _mean_conf(mirrored, common) > _mean_conf(plain, common)
    if not flip:
        return plain, False
    return ({**plain, **mirrored} if keep_unpaired else mirrored), True
