"""Instances' boxes as the engines see them: the box widened by a margin, inside the image.

References are described from a crop around their instance's box and each boxed target
instance is predicted inside its own crop (how the published keypoint-transfer pipelines are
evaluated: the object fills the engine's input, so more of its resolution goes to the object).
The margin keeps the context right around the object (a tail tip on the box edge).
"""

from __future__ import annotations

#: Margin added on every side, as a fraction of the box's larger side.
MARGIN = 0.15
#: At least this many project pixels of margin (tiny boxes still get some context).
MIN_MARGIN = 4.0

Crop = tuple[float, float, float, float]


def crop_around(box: tuple[float, float, float, float], width: int, height: int, margin: float = MARGIN) -> Crop:
    """``(x0, y0, x1, y1)``: the box ``(x, y, w, h)`` widened by ``margin`` and clipped to the image."""
    x, y, w, h = box
    m = max(margin * max(w, h), MIN_MARGIN)
    return (max(0.0, x - m), max(0.0, y - m), min(float(width), x + w + m), min(float(height), y + h + m))


def inside(crop: Crop, x: float, y: float) -> bool:
    return crop[0] <= x <= crop[2] and crop[1] <= y <= crop[3]
