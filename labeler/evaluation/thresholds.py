"""PCK threshold protocols: the length ``T`` a prediction's error is compared with (``d <= alpha*T``).

Published numbers differ mostly by this choice, so it is always named in the report:

``bbox``      max side of the TARGET object box, original pixels (SPair-71k's official protocol,
              DIFT's ``eval_spair.py``; CUB as in Hedlin et al., from bounding_boxes.txt).
``bbox-src``  max side of the SOURCE object box, original pixels (the box some codebases use).
``bbox-kps``  max side of the box spanned by the pair's TARGET keypoints, original pixels
              (PF-Willow's protocol; the dataset has no object boxes).
``bbox-kps-src`` the same for the SOURCE keypoints (what HPF's and DenseMatching's PF-Willow
              loaders use, for comparison with numbers computed that way).
``img``       max side of the target image, original pixels.

All lengths are differences of coordinates (``x2 - x1``), the same in any pixel convention.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labeler.errors import UserInputError

if TYPE_CHECKING:  # numpy-free at import: the CLI builds its --threshold choices from THRESHOLDS
    from labeler.evaluation.pairs import EvalPair

THRESHOLDS: dict[str, str] = {
    "bbox": "max side of the target object box, original pixels",
    "bbox-src": "max side of the source object box, original pixels",
    "bbox-kps": "max side of the box spanned by the pair's target keypoints, original pixels",
    "bbox-kps-src": "max side of the box spanned by the pair's source keypoints, original pixels",
    "img": "max side of the target image, original pixels",
}


def _box_side(box: tuple[float, float, float, float]) -> float:
    x1, y1, x2, y2 = box
    return float(max(x2 - x1, y2 - y1))


def pck_threshold(pair: EvalPair, kind: str, trg_size: tuple[int, int] | None = None) -> float:
    """``T`` for one pair; ``trg_size`` (W, H) of the loaded target image overrides the annotation."""
    if kind == "bbox":
        if pair.trg_bbox is None:
            raise UserInputError(f"pair {pair.pair_id}: this dataset has no target box; use --threshold bbox-kps or img")
        return _box_side(pair.trg_bbox)
    if kind == "bbox-src":
        if pair.src_bbox is None:
            raise UserInputError(f"pair {pair.pair_id}: this dataset has no source box; use --threshold bbox-kps or img")
        return _box_side(pair.src_bbox)
    if kind in ("bbox-kps", "bbox-kps-src"):
        if pair.num_points == 0:
            return 0.0
        xy = pair.trg_xy if kind == "bbox-kps" else pair.src_xy
        return float(max(xy.max(axis=0) - xy.min(axis=0)))
    if kind == "img":
        size = trg_size or pair.trg_size
        if size is None:
            raise UserInputError(f"pair {pair.pair_id}: target image size unknown")
        return float(max(size))
    raise UserInputError(f"unknown threshold {kind!r}; choose one of {', '.join(THRESHOLDS)}")
