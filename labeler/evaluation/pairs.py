"""What every dataset loader produces: annotated image pairs in the project's coordinates.

Loaders convert each dataset's own coordinates once, on reading, into continuous pixels
(pixel ``i`` covers ``[i, i + 1)``; see :mod:`labeler.correspondence.base`), so the runner, the
thresholds and the metric never need to know where a pair came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
