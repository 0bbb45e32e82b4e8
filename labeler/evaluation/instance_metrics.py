"""Per-instance accuracy: PCK against each object's box, and COCO keypoint AP (OKS) through
pycocotools' own COCOeval, the number keypoint papers report.

OKS needs a per-keypoint sigma; a project has no measured ones, so :data:`OKS_SIGMA` (0.05, in
the range of COCO's person sigmas, 0.025 to 0.107) is used for every keypoint unless given.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Mapping, Sequence

import numpy as np

OKS_SIGMA = 0.05


def pck(pred: Mapping[str, tuple[float, float]], truth: Mapping[str, tuple[float, float]],
        box: tuple[float, float, float, float], alpha: float = 0.1) -> float:
    """Share of the truth's keypoints predicted within ``alpha`` x the box's longer side."""
    limit = alpha * max(box[2], box[3])
    hits = [name in pred and math.dist(pred[name], xy) <= limit for name, xy in truth.items()]
    return sum(hits) / len(hits) if hits else 0.0


def coco_oks_ap(
    names: Sequence[str],
    truth: Sequence[tuple[int, tuple[float, float, float, float], Mapping[str, tuple[float, float]]]],
    predictions: Sequence[tuple[int, Mapping[str, tuple[float, float]], float]],
    sizes: Mapping[int, tuple[int, int]],
    sigmas: Sequence[float] | None = None,
) -> float:
    """COCO keypoint AP (OKS 0.50:0.95) of ``predictions`` ``(image id, points, score)`` against
    ``truth`` ``(image id, box, points)``, computed by pycocotools' COCOeval."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def flat(points: Mapping[str, tuple[float, float]]) -> list[float]:
        out: list[float] = []
        for n in names:
            out += [*points[n], 2] if n in points else [0, 0, 0]
        return out

    gt = {
        "images": [{"id": i, "width": w, "height": h} for i, (w, h) in sizes.items()],
        "annotations": [
            {"id": k + 1, "image_id": i, "category_id": 1, "keypoints": flat(p), "num_keypoints": len(p),
             "bbox": list(b), "area": b[2] * b[3], "iscrowd": 0}
            for k, (i, b, p) in enumerate(truth)
        ],
        "categories": [{"id": 1, "name": "object", "keypoints": list(names), "skeleton": []}],
    }
    results = [{"image_id": i, "category_id": 1, "keypoints": flat(p), "score": float(s)} for i, p, s in predictions]
    if not results:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        found = coco.loadRes(results)
        ev = COCOeval(coco, found, iouType="keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas if sigmas is not None else [OKS_SIGMA] * len(names), dtype=float)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])
