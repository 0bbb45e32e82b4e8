"""Which SPair-71k keypoint is the mirror image of which, per category.

SPair's annotations number keypoints per category (``kps_ids``) and name none, so a horizontal
flip needs this table to know that, say, car keypoint 10 (a right-side fender corner) becomes 20
(the left one). The pairs are those GeoAware-SC's adaptive pose alignment uses (their SPair flip
permutation and left/right labels, which agree with each other), written here as pairs of the
dataset's own ids; keypoints listed in no pair lie on the symmetry plane and map onto
themselves. ``labeler eval --flip on`` uses it; ``tests/evaluation`` checks that it is a set of
disjoint pairs per category.
"""

from __future__ import annotations


def _pairs(*pairs: tuple[int, int]) -> tuple[tuple[str, str], ...]:
    return tuple((str(a), str(b)) for a, b in pairs)


_ANIMAL_HEAD = ((0, 1), (2, 3), (4, 5), (6, 7))  # below-ear, ear, eye, nose-side points of cow/sheep/horse/cat
_VEHICLE_SIDES = ((10, 20), (11, 21), (12, 22), (13, 23), (14, 24), (15, 25), (16, 17), (18, 19), (26, 27), (28, 29))

SPAIR_FLIP_PAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "aeroplane": _pairs(*((a, a + 1) for a in range(4, 22, 2))),
    "bicycle": _pairs((2, 3), (6, 7), (9, 10)),
    "bird": _pairs((1, 2), (4, 5), (7, 8), (10, 11), (12, 13), (14, 15)),
    "boat": _pairs(*((a, a + 1) for a in range(1, 13, 2))),
    "bottle": _pairs(*((a, a + 1) for a in range(0, 10, 2))),
    "bus": _pairs((0, 1), (2, 3), (5, 6), *_VEHICLE_SIDES),
    "car": _pairs((0, 1), (2, 3), (6, 7), *_VEHICLE_SIDES),
    "cat": _pairs(*_ANIMAL_HEAD, (9, 10), (11, 12)),
    "chair": _pairs(*((a, a + 1) for a in range(0, 14, 2))),
    "cow": _pairs(*_ANIMAL_HEAD, (9, 10), (11, 12), (15, 16), (17, 18), (19, 20)),
    "dog": _pairs((0, 1), (2, 3), (4, 5), (9, 10), (11, 12)),
    "horse": _pairs(*_ANIMAL_HEAD, (10, 11), (12, 13), (16, 17), (18, 19)),
    "motorbike": _pairs((0, 1), (2, 3)),
    "person": _pairs((0, 1), (2, 3), *((a, a + 1) for a in range(8, 20, 2))),
    "pottedplant": _pairs((0, 2), (4, 5), (6, 8)),
    "sheep": _pairs(*_ANIMAL_HEAD, (9, 10), (11, 12), (15, 16), (17, 18), (19, 20)),
    "train": _pairs(*((a, a + 1) for a in range(0, 18, 2))),
    "tvmonitor": _pairs((0, 2), (4, 6), (3, 7), (8, 10), (12, 14), (11, 15)),
}
