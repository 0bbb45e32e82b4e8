"""Flip-aware propagation: :mod:`labeler.correspondence.poses` with the project's flip pairs.

Per target the engine predicts the plain and the mirrored pose of every reference in one call,
and the better pose is kept whole; the image records which one (``pred_flipped``).
"""

from __future__ import annotations

from collections.abc import Mapping

from labeler.correspondence.poses import (
    MIRROR_SUFFIX,
    MIRRORED,
    POSE_KEY,
    Points,
    choose_pose,
    is_mirrored,
    mirror_image,
    pose_distances,
    split_poses,
    tag_mirrored,
)
from labeler.correspondence import poses
from labeler.store import Schema


def flip_enabled(flip: bool | None, schema: Schema) -> bool:
    """None means: on when the schema has flip pairs."""
    return bool(schema.flip_pairs) if flip is None else bool(flip)


def mirror_points(points: Mapping[str, tuple[float, float]], width: float, schema: Schema) -> dict[str, tuple[float, float]]:
    """Points of the mirrored image: ``x -> width - x``, names swapped by the schema's flip pairs."""
    return poses.mirror_points(points, width, schema.flip_of)


def mirrored_name(name: str, schema: Schema) -> str:
    return schema.flip_of(name) or name


__all__ = [
    "MIRROR_SUFFIX", "MIRRORED", "POSE_KEY", "Points", "choose_pose", "flip_enabled", "is_mirrored", "mirror_image",
    "mirror_points", "mirrored_name", "pose_distances", "split_poses", "tag_mirrored",
]
