"""What every dataset loader produces: annotated image pairs in the project's coordinates.

Loaders convert each dataset's own coordinates once, on reading, into continuous pixels
(pixel ``i`` covers ``[i, i + 1)``; see :mod:`labeler.correspondence.base`), so the runner, the
thresholds and the metric never need to know where a pair came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from labeler.errors import FormatError


@dataclass(frozen=True, eq=False)
class EvalPair:
    """A source and a target image with the keypoints annotated in both.

    ``names[k]`` is keypoint ``k``'s id (the dataset's per-category keypoint id as a string);
    ``src_xy[k]`` and ``trg_xy[k]`` are its positions. Boxes are ``(x1, y1, x2, y2)``; sizes
    ``(width, height)`` as stored in the annotation (None where the dataset has none).
    """

    pair_id: str
    category: str
    src_path: Path
    trg_path: Path
    names: tuple[str, ...]
    src_xy: np.ndarray  # (K, 2) float64
    trg_xy: np.ndarray  # (K, 2) float64
    src_bbox: tuple[float, float, float, float] | None = None
    trg_bbox: tuple[float, float, float, float] | None = None
    src_size: tuple[int, int] | None = None
    trg_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        k = len(self.names)
        object.__setattr__(self, "src_xy", np.asarray(self.src_xy, dtype=np.float64).reshape(k, 2))
        object.__setattr__(self, "trg_xy", np.asarray(self.trg_xy, dtype=np.float64).reshape(k, 2))

    @property
    def num_points(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class EvalDataset:
    """Pairs in a fixed, deterministic order plus how the dataset is meant to be scored."""

    name: str  # "spair", "pf-willow", "cub"
    split: str
    root: Path
    pairs: list[EvalPair]
    #: Threshold protocols this dataset can compute (keys of labeler.evaluation.thresholds.THRESHOLDS).
    thresholds: tuple[str, ...]
    default_threshold: str
    #: One paragraph for the report: the pairs and the protocol, and how it relates to the literature.
    protocol: str
    notes: list[str] = field(default_factory=list)
    #: Left/right keypoint pairs per category (keypoint ids as in ``EvalPair.names``), for flip-aware
    #: matching (``labeler eval --flip``); a category missing here has none known.
    flip_pairs: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    @property
    def categories(self) -> list[str]:
        seen: dict[str, None] = {}
        for p in self.pairs:
            seen.setdefault(p.category, None)
        return list(seen)


def check_images_exist(root: Path, pairs: list[EvalPair], shown: int = 3) -> None:
    """Name the missing image files up front (a stat each), not an hour into the run."""
    missing: dict[Path, None] = {}
    for p in pairs:
        for path in (p.src_path, p.trg_path):
            if path not in missing and not path.is_file():
                missing[path] = None
    if missing:
        names = ", ".join(str(m) for m in list(missing)[:shown])
        more = f" and {len(missing) - shown} more" if len(missing) > shown else ""
        count = f"{len(missing)} image{'s' if len(missing) > 1 else ''}"
        raise FormatError(f"{root}: {count} the pairs need cannot be found: {names}{more} "
                          "(is the download complete?)")


#: Pixels a keypoint may lie beyond its image's edge (rounding in the annotation tools).
EDGE_MARGIN = 1.0


def _image_size(path: Path, stated: tuple[int, int] | None, cache: dict[Path, tuple[int, int] | None]) -> tuple[int, int] | None:
    if stated is not None:
        return stated
    if path not in cache:
        from PIL import Image

        try:
            with Image.open(path) as im:  # the header only
                cache[path] = im.size
        except Exception:  # noqa: BLE001 - the run reports an unreadable image itself
            cache[path] = None
    return cache[path]


def _inside(xy: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    ok = np.isfinite(xy).all(axis=1)
    if size is not None:
        w, h = size
        with np.errstate(invalid="ignore"):
            ok &= (xy[:, 0] >= -EDGE_MARGIN) & (xy[:, 0] <= w + EDGE_MARGIN)
            ok &= (xy[:, 1] >= -EDGE_MARGIN) & (xy[:, 1] <= h + EDGE_MARGIN)
    return ok


def with_usable_keypoints(dataset: EvalDataset) -> EvalDataset:
    """The dataset without keypoints that are not finite or lie outside their image (a keypoint
    at 1e9 would be scored as a miss, or as a hit under a huge box threshold); a note says what
    was left out. A pair left with none stays, counted as an empty pair (not scored)."""
    sizes: dict[Path, tuple[int, int] | None] = {}
    kept: list[EvalPair] = []
    dropped_points: list[str] = []
    n_points = 0
    dropped_pairs: list[str] = []
    for pair in dataset.pairs:
        ok = _inside(pair.src_xy, _image_size(pair.src_path, pair.src_size, sizes))
        ok &= _inside(pair.trg_xy, _image_size(pair.trg_path, pair.trg_size, sizes))
        if not ok.all():
            n_points += int((~ok).sum())
            dropped_points.append(pair.pair_id)
            pair = replace(
                pair,
                names=tuple(n for n, good in zip(pair.names, ok) if good),
                src_xy=pair.src_xy[ok],
                trg_xy=pair.trg_xy[ok],
            )
            if pair.num_points == 0:
                dropped_pairs.append(pair.pair_id)
        kept.append(pair)
    if all(p.num_points == 0 for p in kept):
        raise FormatError(f"{dataset.root}: no pair of the {dataset.split} split has a usable keypoint")
    notes = list(dataset.notes)
    if dropped_points:
        first = ", ".join(dropped_points[:3]) + (f" and {len(dropped_points) - 3} more" if len(dropped_points) > 3 else "")
        notes.append(f"{n_points} keypoint(s) not finite or outside their image were left out (pairs {first})")
    if dropped_pairs:
        first = ", ".join(dropped_pairs[:3]) + (f" and {len(dropped_pairs) - 3} more" if len(dropped_pairs) > 3 else "")
        notes.append(f"{len(dropped_pairs)} pair(s) have no usable keypoint left (counted as empty, not scored: {first})")
    if not dropped_points and not dropped_pairs:
        return dataset
    return replace(dataset, pairs=kept, notes=notes)
