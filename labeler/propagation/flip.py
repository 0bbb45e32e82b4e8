"""Flip-aware matching (GeoAware-SC's adaptive pose alignment, DESIGN.md section 4).

About 60% of keypoints have a left/right look-alike, so a target seen from the other side is
easily matched with left and right swapped. Each reference is therefore also used mirrored:
the image flipped horizontally (``x -> W - x``), and every keypoint renamed to its flip
counterpart (a mirrored left eye looks like a right eye). Per target the engine predicts both
poses and the one whose predictions are more confident, on average over the keypoints both
poses predict, is kept; the image records which one (``pred_flipped``).

Both poses are predicted in ONE engine call: the mirrored states' keypoints are renamed
``name + MIRROR_SUFFIX`` (``:`` cannot occur in keypoint names), so an engine computes the
target's features once and simply has more keypoints to locate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from labeler.correspondence.base import Prediction, ReferenceState
from labeler.store import Schema

MIRROR_SUFFIX = ":mirrored"

Points = dict[str, tuple[float, float, float | None]]


def flip_enabled(flip: bool | None, schema: Schema) -> bool:
    """None means: on when the schema has flip pairs."""
    return bool(schema.flip_pairs) if flip is None else bool(flip)


def mirror_image(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, ::-1])


def mirror_points(points: Mapping[str, tuple[float, float]], width: float, schema: Schema) -> dict[str, tuple[float, float]]:
    """Points of the mirrored image: ``x -> width - x``, names swapped by the flip pairs."""
    return {(schema.flip_of(name) or name): (width - x, y) for name, (x, y) in points.items()}


def mirrored_name(name: str, schema: Schema) -> str:
    return schema.flip_of(name) or name


def tag_mirrored(state: ReferenceState) -> ReferenceState:
    """The same state with every keypoint renamed ``name + MIRROR_SUFFIX``."""
    return ReferenceState(
        method=state.method,
        signature=state.signature,
        names=tuple(n + MIRROR_SUFFIX for n in state.names),
        points=state.points,
        image_size=state.image_size,
        arrays=state.arrays,
        meta=state.meta,
    )


def split_poses(prediction: Prediction, scale: tuple[float, float]) -> tuple[Points, Points]:
    """(plain, mirrored) predictions in project pixels (array coordinates divided by ``scale``)."""
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


def _mean_conf(points: Points, names: set[str]) -> float:
    vals = [points[n][2] for n in names]
    return float(np.mean([0.0 if v is None else v for v in vals]))


def choose_pose(plain: Points, mirrored: Points) -> tuple[Points, bool]:
    """The better pose and whether it is the mirrored one.

    Compared on the keypoints both predict; with none in common (or no mirrored prediction) the
    plain pose is kept, and a tie keeps it too.
    """
    common = set(plain) & set(mirrored)
    if not common or not plain:
        return (plain, False) if plain or not mirrored else (mirrored, True)
    if _mean_conf(mirrored, common) > _mean_conf(plain, common):
        return mirrored, True
    return plain, False
