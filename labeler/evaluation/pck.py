"""Percentage of correct keypoints, per image and per point.

A predicted keypoint is correct when its distance to the truth is at most ``alpha * T`` (a
distance exactly at the threshold counts as correct; a relative tolerance of 1e-9 absorbs the
floating-point rounding of ``alpha * T``). ``T`` comes from :mod:`labeler.evaluation.thresholds`.

* per image: mean over pairs of (correct points / points of the pair). Pairs without any
  keypoint have no PCK; they are left out of this mean and counted as ``empty_pairs``.
* per point: correct points / all points, pooled over pairs.

Both are in percent, as papers report them. A missing prediction (NaN) is never correct.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

DEFAULT_ALPHAS: tuple[float, ...] = (0.05, 0.1, 0.15)
_REL_TOL = 1e-9


def alpha_key(alpha: float) -> str:
    """The JSON key of an alpha: 0.05 -> "0.05", 0.1 -> "0.1"."""
    return f"{float(alpha):g}"


def correct_mask(distances: np.ndarray, threshold: float, alpha: float) -> np.ndarray:
    d = np.asarray(distances, dtype=np.float64)
    limit = float(alpha) * float(threshold)
    return np.isfinite(d) & (d <= limit + _REL_TOL * max(limit, 1.0))


@dataclass(frozen=True, eq=False)
class PairScore:
    """Distances of one pair's predictions, with the threshold they are judged against."""

    pair_id: str
    category: str
    threshold: float
    distances: np.ndarray  # (K,)

    @property
    def num_points(self) -> int:
        return int(self.distances.shape[0])

    def correct(self, alpha: float) -> int:
        return int(correct_mask(self.distances, self.threshold, alpha).sum())

    def pck(self, alpha: float) -> float | None:
        """Fraction correct in [0, 1]; None for a pair without points."""
        return self.correct(alpha) / self.num_points if self.num_points else None


def score_pair(pair_id: str, category: str, predicted: np.ndarray, truth: np.ndarray, threshold: float) -> PairScore:
    p = np.asarray(predicted, dtype=np.float64).reshape(-1, 2)
    t = np.asarray(truth, dtype=np.float64).reshape(-1, 2)
    if p.shape != t.shape:
        raise ValueError(f"pair {pair_id}: {p.shape[0]} predictions for {t.shape[0]} true points")
    d = np.hypot(p[:, 0] - t[:, 0], p[:, 1] - t[:, 1])
    return PairScore(pair_id=pair_id, category=category, threshold=float(threshold), distances=d)


@dataclass
class PCKTable:
    """PCK of a set of pairs, in percent, keyed by :func:`alpha_key`; None where undefined."""

    pairs: int
    empty_pairs: int
    points: int
    per_point: dict[str, float | None] = field(default_factory=dict)
    per_image: dict[str, float | None] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "pairs": self.pairs,
            "empty_pairs": self.empty_pairs,
            "points": self.points,
            "per_point": dict(self.per_point),
            "per_image": dict(self.per_image),
        }


def summarize(scores: Iterable[PairScore], alphas: Sequence[float] = DEFAULT_ALPHAS) -> PCKTable:
    scores = list(scores)
    scored = [s for s in scores if s.num_points > 0]
    points = sum(s.num_points for s in scored)
    table = PCKTable(pairs=len(scores), empty_pairs=len(scores) - len(scored), points=points)
    for a in alphas:
        key = alpha_key(a)
        correct = [s.correct(a) for s in scored]
        table.per_point[key] = 100.0 * sum(correct) / points if points else None
        table.per_image[key] = (
            100.0 * float(np.mean([c / s.num_points for c, s in zip(correct, scored)])) if scored else None
        )
    return table


def per_category(scores: Iterable[PairScore], alphas: Sequence[float] = DEFAULT_ALPHAS) -> dict[str, PCKTable]:
    """One table per category, categories in order of first appearance."""
    groups: dict[str, list[PairScore]] = {}
    for s in scores:
        groups.setdefault(s.category, []).append(s)
    return {cat: summarize(group, alphas) for cat, group in groups.items()}


def pck_curve(scores: Sequence[PairScore], alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per point, per image) PCK in percent at every alpha of ``alphas`` (NaN without points)."""
    scored = [s for s in scores if s.num_points > 0]
    alphas = np.asarray(alphas, dtype=np.float64)
    if not scored:
        nan = np.full(alphas.shape, np.nan)
        return nan, nan.copy()
    hits = np.array([[s.correct(a) for a in alphas] for s in scored], dtype=np.float64)  # (P, A)
    n = np.array([s.num_points for s in scored], dtype=np.float64)[:, None]
    return 100.0 * hits.sum(0) / n.sum(), 100.0 * (hits / n).mean(0)
