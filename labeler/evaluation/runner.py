"""Run a correspondence engine over a benchmark's pairs and score it with PCK.

Only the engine interface is used (:class:`~labeler.correspondence.base.Matcher`): each source
image's reference is prepared once for all the pairs that share it (SPair's pairs share
sources), and its targets are predicted in batches.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from labeler.correspondence import poses
from labeler.correspondence.base import Matcher, StopFn, check_stop
from labeler.errors import FormatError, ImageReadError, UserInputError
from labeler.evaluation.images import load_stored_rgb
from labeler.evaluation.pairs import EvalDataset, EvalPair
from labeler.evaluation.pck import (
    DEFAULT_ALPHAS,
    PairScore,
    PCKTable,
    alpha_key,
    per_category,
    score_pair,
    summarize,
)
from labeler.evaluation.thresholds import THRESHOLDS, pck_threshold

#: How targets of one source are batched. "union": the reference holds every keypoint any of
#: its pairs needs and each batch predicts them all (cheap when a keypoint costs little, DIFT);
#: "exact": targets predict only their pair's keypoints and share a batch only with targets
#: needing the same set (the attention method pays per keypoint and target). Scores are the same.
GROUPINGS = ("auto", "union", "exact")
_EXACT_METHODS = ("attention",)
#: Engines with a text prompt that names the category ("a photo of a {category}", DIFT's SPair protocol).
PROMPT_METHODS = ("dift",)
#: Methods whose published protocol matches with flip-aware pose alignment (GeoAware-SC's zero-shot
#: pipeline); ``--flip auto`` turns it on for them only.
FLIP_METHODS = ("fusion",)
#: Presets of those methods whose paper matched without pose alignment (sd-dino, Zhang et al. 2023).
NO_FLIP_PRESETS = frozenset({"sd-dino"})


@dataclass(frozen=True)
class EvalOptions:
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    threshold: str | None = None  # None: the dataset's default protocol
    limit: int | None = None
    batch_size: int = 4
    grouping: str = "auto"
    #: Only pairs of these categories (None: all), e.g. ("cat", "dog").
    categories: tuple[str, ...] | None = None
    #: Flip-aware matching (each source also mirrored, the better pose kept per pair); None: on
    #: for the methods whose published protocol uses it (FLIP_METHODS).
    flip: bool | None = None

    def __post_init__(self) -> None:
        alphas = tuple(float(a) for a in self.alphas)
        if not alphas or any(not (a > 0 and math.isfinite(a)) for a in alphas):
            raise UserInputError(f"alphas must be positive numbers (got {self.alphas!r})")
        object.__setattr__(self, "alphas", tuple(sorted(set(alphas))))
        if self.limit is not None and self.limit < 1:
            raise UserInputError(f"--limit must be at least 1 (got {self.limit})")
        if self.batch_size < 1:
            raise UserInputError(f"--batch-size must be at least 1 (got {self.batch_size})")
        if self.grouping not in GROUPINGS:
            raise UserInputError(f"unknown grouping {self.grouping!r}; choose one of {', '.join(GROUPINGS)}")
        if self.categories is not None:
            names = tuple(dict.fromkeys(c.strip() for c in self.categories if c.strip()))
            if not names:
                raise UserInputError("--categories needs at least one category name")
            object.__setattr__(self, "categories", names)


@dataclass
class PairResult:
    pair: EvalPair
    predicted: np.ndarray  # (K, 2), NaN where the engine gave nothing
    score: PairScore
    flipped: bool = False  # the mirrored pose of the source was kept


@dataclass(frozen=True)
class PairFailure:
    """A pair left out of the scores because one of its images could not be read."""

    pair_id: str
    category: str
    error: str


@dataclass
class EvalResult:
    dataset: str
    split: str
    method: str
    model: str | None
    preset: str | None
    device: str
    threshold: str
    alphas: tuple[float, ...]
    protocol: str
    seconds: float
    pair_results: list[PairResult]
    overall: PCKTable
    categories: dict[str, PCKTable]
    limit: int | None = None
    notes: list[str] = field(default_factory=list)
    failures: list[PairFailure] = field(default_factory=list)
    flip: bool = False

    @property
    def flipped_pairs(self) -> int:
        return sum(1 for r in self.pair_results if r.flipped)

    @property
    def pairs_per_second(self) -> float:
        return len(self.pair_results) / self.seconds if self.seconds > 0 else float("inf")

    def to_json(self) -> dict[str, Any]:
        """The report schema (PCK in percent, keyed by alpha as in "0.1"; None where undefined)."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "method": self.method,
            "model": self.model,
            "preset": self.preset,
            "device": self.device,
            "threshold": self.threshold,
            "threshold_description": THRESHOLDS[self.threshold],
            "protocol": self.protocol,
            "alphas": [alpha_key(a) for a in self.alphas],
            "unit": "percent",
            "pairs": self.overall.pairs,
            "empty_pairs": self.overall.empty_pairs,
            "points": self.overall.points,
            "per_point": dict(self.overall.per_point),
            "per_image": dict(self.overall.per_image),
            "per_category": {c: t.as_dict() for c, t in self.categories.items()},
            "seconds": round(self.seconds, 3),
            "pairs_per_second": round(self.pairs_per_second, 4) if self.seconds > 0 else None,
            "limit": self.limit,
            "flip": self.flip,
            "flipped_pairs": self.flipped_pairs,
            "failed_pairs": [{"pair_id": f.pair_id, "category": f.category, "error": f.error} for f in self.failures],
            "notes": list(self.notes),
        }


def in_categories(dataset: EvalDataset, categories: Sequence[str] | None) -> list[EvalPair]:
    """The dataset's pairs of the named categories (all pairs for None), in file order."""
    if categories is None:
        return list(dataset.pairs)
    known = dataset.categories
    unknown = [c for c in categories if c not in known]
    if unknown:
        raise UserInputError(
            f"no {dataset.name} {dataset.split} pairs of category {', '.join(map(repr, unknown))}; "
            f"the categories are {', '.join(known)}"
        )
    wanted = set(categories)
    return [p for p in dataset.pairs if p.category in wanted]


def check_options(dataset: EvalDataset, options: EvalOptions) -> tuple[str, list[EvalPair]]:
    """The threshold protocol and the candidate pairs; raises before any engine is built."""
    threshold = options.threshold or dataset.default_threshold
    if threshold not in dataset.thresholds:
        raise UserInputError(
            f"threshold {threshold!r} is not available for {dataset.name}; choose one of {', '.join(dataset.thresholds)}"
        )
    candidates = in_categories(dataset, options.categories)
    if options.flip:
        unknown = sorted({p.category for p in candidates} - set(dataset.flip_pairs))
        if unknown:
            raise UserInputError(
                f"--flip on needs the left/right keypoint pairs of each category, and {dataset.name} gives none for "
                f"{shown_list(unknown)}" + _FLIP_HINTS.get(dataset.name, "")
            )
    return threshold, candidates


_FLIP_HINTS = {
    "pf-willow": " (PF-Willow's keypoints have no names or sides); use --flip off",
    "cub": " (left/right parts are read from parts/parts.txt, which is missing)",
    "spair": " (a labeler export written before flip pairs were exported: export it again, or use --flip off)",
}


def flip_enabled(options: EvalOptions, method: str, preset: str | None = None) -> bool:
    if options.flip is not None:
        return options.flip
    return method in FLIP_METHODS and preset not in NO_FLIP_PRESETS


def with_flip(options: EvalOptions, method: str, preset: str | None = None) -> EvalOptions:
    """``options`` with ``flip`` decided for ``method`` and ``preset`` (so every shard and part agrees)."""
    return replace(options, flip=flip_enabled(options, method, preset))


def shown_list(items: Sequence[str], most: int = 5) -> str:
    head = ", ".join(map(repr, items[:most]))
    return head + (f" and {len(items) - most} more" if len(items) > most else "")


def select_pairs(pairs: Sequence[EvalPair], limit: int | None) -> list[EvalPair]:
    """All pairs, or the first ``limit`` of a round-robin over categories (each in file order),
    so that a quick run still sees every category."""
    if limit is None or limit >= len(pairs):
        return list(pairs)
    queues: dict[str, list[EvalPair]] = {}
    for p in pairs:
        queues.setdefault(p.category, []).append(p)
    chosen: list[EvalPair] = []
    depth = 0
    while len(chosen) < limit:
        for queue in queues.values():
            if depth < len(queue) and len(chosen) < limit:
                chosen.append(queue[depth])
        depth += 1
    return chosen


def _check_size(path: Path, image: np.ndarray, annotated: tuple[int, int] | None) -> tuple[int, int]:
    size = (int(image.shape[1]), int(image.shape[0]))
    if annotated is not None and tuple(annotated) != size:
        raise FormatError(
            f"{path}: image is {size[0]}x{size[1]} but its annotation says {annotated[0]}x{annotated[1]}"
        )
    return size


@dataclass
class _Bucket:
    """Pairs of one source image whose source keypoints agree, served by one reference."""

    points: dict[str, tuple[float, float]]
    members: list[int]  # indices into the selected pairs

    def accepts(self, pair: EvalPair) -> bool:
        return all(
            self.points.get(n, tuple(xy)) == tuple(xy) for n, xy in zip(pair.names, pair.src_xy.tolist())
        )


def _buckets(pairs: Sequence[EvalPair]) -> list[tuple[Path, _Bucket]]:
    by_source: dict[Path, list[_Bucket]] = {}
    for i, pair in enumerate(pairs):
        if pair.num_points == 0:
            continue
        buckets = by_source.setdefault(Path(pair.src_path), [])
        bucket = next((b for b in buckets if b.accepts(pair)), None)
        if bucket is None:
            bucket = _Bucket(points={}, members=[])
            buckets.append(bucket)
        bucket.points.update({n: tuple(xy) for n, xy in zip(pair.names, pair.src_xy.tolist())})
        bucket.members.append(i)
    return [(src, b) for src, bs in by_source.items() for b in bs]


def _inside(points: dict[str, tuple[float, float]], size: tuple[int, int]) -> dict[str, tuple[float, float]]:
    """Queries clamped into the image (a few dataset points sit on or past the border)."""
    w, h = size
    return {n: (min(max(x, 0.0), w - 1e-3), min(max(y, 0.0), h - 1e-3)) for n, (x, y) in points.items()}


def _pick(points: poses.Points, names: Sequence[str]) -> np.ndarray:
    out = np.full((len(names), 2), np.nan)
    for k, n in enumerate(names):
        if n in points:
            out[k] = points[n][:2]
    return out


def evaluate(
    dataset: EvalDataset,
    matcher: Matcher,
    options: EvalOptions = EvalOptions(),
    *,
    model: str | None = None,
    preset: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: StopFn | None = None,
) -> EvalResult:
    flip = flip_enabled(options, matcher.method, preset)
    threshold, candidates = check_options(dataset, replace(options, flip=flip))
    pairs = select_pairs(candidates, options.limit)
    grouping = options.grouping
    if grouping == "auto":
        grouping = "exact" if matcher.method in _EXACT_METHODS else "union"

    predicted: list[np.ndarray | None] = [None] * len(pairs)
    flipped: set[int] = set()
    trg_sizes: list[tuple[int, int] | None] = [None] * len(pairs)
    failed: dict[int, str] = {}
    done = sum(1 for p in pairs if p.num_points == 0)
    started = time.perf_counter()
    if progress is not None:
        progress(done, len(pairs))
    for src_path, bucket in _buckets(pairs):
        check_stop(should_stop)
        try:
            src_image = load_stored_rgb(src_path)
        except ImageReadError as exc:
            failed.update({i: str(exc) for i in bucket.members})
            done += len(bucket.members)
            continue
        src_size = _check_size(src_path, src_image, pairs[bucket.members[0]].src_size)
        queries = _inside(bucket.points, src_size)
        state = matcher.prepare_reference(src_image, queries, should_stop=should_stop)
        mirror_state = None
        if flip:  # the source seen from the other side: x -> W - x, left/right ids swapped
            flip_of = _flip_lookup(dataset.flip_pairs[pairs[bucket.members[0]].category])
            mirror_state = matcher.prepare_reference(
                poses.mirror_image(src_image), poses.mirror_points(queries, src_size[0], flip_of), should_stop=should_stop)
        del src_image
        if grouping == "union":
            groups = [(tuple(state.names), bucket.members)]
        else:
            by_names: dict[tuple[str, ...], list[int]] = {}
            for i in bucket.members:
                by_names.setdefault(tuple(pairs[i].names), []).append(i)
            groups = list(by_names.items())
        for names, members in groups:
            ref = state if names == tuple(state.names) else state.subset(names)
            refs = [ref]
            if mirror_state is not None:
                wanted = [n for n in mirror_state.names if n in {flip_of(m) or m for m in names}]
                refs.append(poses.tag_mirrored(mirror_state.subset(wanted)))
            for start in range(0, len(members), options.batch_size):
                check_stop(should_stop)
                chunk = members[start:start + options.batch_size]
                images = []
                for i in list(chunk):
                    try:
                        image = load_stored_rgb(pairs[i].trg_path)
                    except ImageReadError as exc:
                        failed[i] = str(exc)
                        chunk.remove(i)
                        done += 1
                        continue
                    trg_sizes[i] = _check_size(pairs[i].trg_path, image, pairs[i].trg_size)
                    images.append(image)
                if not chunk:
                    continue
                outputs = matcher.predict(refs, images, should_stop=should_stop)
                if len(outputs) != len(chunk):
                    raise RuntimeError(f"{matcher.method} returned {len(outputs)} predictions for {len(chunk)} images")
                for i, out in zip(chunk, outputs):
                    plain, mirrored = poses.split_poses(out)
                    if mirror_state is not None:  # as the authors: the mirrored pose fills in where it can
                        plain, turned = poses.choose_pose(plain, mirrored, poses.pose_distances(out, refs),
                                                          keep_unpaired=True)
                        if turned:
                            flipped.add(i)
                    predicted[i] = _pick(plain, pairs[i].names)
                done += len(chunk)
                if progress is not None:
                    progress(done, len(pairs))
    seconds = time.perf_counter() - started

    results = []
    for i, pair in enumerate(pairs):
        if i in failed:
            continue
        pred = predicted[i] if predicted[i] is not None else np.zeros((0, 2))
        t = pck_threshold(pair, threshold, trg_sizes[i]) if pair.num_points else 0.0
        results.append(PairResult(pair, pred, score_pair(pair.pair_id, pair.category, pred, pair.trg_xy, t),
                                  flipped=i in flipped))
    scores = [r.score for r in results]
    notes = list(dataset.notes)
    notes.extend(_threshold_notes(scores))
    if options.categories is not None:
        notes.append(f"--categories {','.join(options.categories)}: {len(candidates)} of {len(dataset.pairs)} pairs")
    if options.limit is not None and options.limit < len(candidates):
        notes.append(f"--limit {options.limit}: first pairs of a round-robin over categories, not the whole split")
    notes.extend(_flip_notes(flip, sum(1 for r in results if r.flipped), len(results)))
    return EvalResult(
        dataset=dataset.name,
        split=dataset.split,
        method=matcher.method,
        model=model,
        preset=preset,
        device=str(matcher.device),
        threshold=threshold,
        alphas=options.alphas,
        protocol=dataset.protocol.format(threshold=threshold),
        seconds=seconds,
        pair_results=results,
        overall=summarize(scores, options.alphas),
        categories=per_category(scores, options.alphas),
        limit=options.limit,
        notes=notes,
        failures=[PairFailure(pairs[i].pair_id, pairs[i].category, failed[i]) for i in sorted(failed)],
        flip=flip,
    )


def _flip_lookup(pairs: Sequence[tuple[str, str]]) -> poses.FlipOf:
    table = {a: b for a, b in pairs} | {b: a for a, b in pairs}
    return table.get


def _flip_notes(flip: bool, flipped: int, total: int) -> list[str]:
    if not flip:
        return []
    return [f"flip-aware matching (adaptive pose alignment): the mirrored source was kept for {flipped} of {total} "
            "pair(s); --flip off to measure without it"]


def prompt_category(name: str) -> str:
    """A dataset's category folder as words for a prompt: "001.Black_footed_Albatross" ->
    "Black footed Albatross" (CUB), "car(G)" -> "car" (PF-Willow); SPair's names stay as DIFT
    passes them ("pottedplant")."""
    text = re.sub(r"^\d+\.", "", name)
    text = re.sub(r"\(.*?\)$", "", text)
    return text.replace("_", " ").strip() or name


def _threshold_notes(scores: Sequence[PairScore]) -> list[str]:
    degenerate = sum(1 for s in scores if s.num_points and not s.threshold > 0)
    if not degenerate:
        return []
    return [f"{degenerate} pair(s) have a threshold of 0 px (a box of zero size, e.g. one keypoint): "
            "only exact hits count there; --threshold img measures against the image instead"]


def _pair_key(pair: EvalPair) -> tuple[str, str, str, str]:
    """Identifies a pair across processes (a shard's pairs come back as copies)."""
    return pair.pair_id, pair.category, str(pair.src_path), str(pair.trg_path)


def merge_parts(dataset: EvalDataset, parts: list[EvalResult], order: list[EvalPair], threshold: str,
                options: EvalOptions, notes: list[str]) -> EvalResult:
    """One result from runs over parts of the selection (per category, or the shards of a
    cluster run), pairs in the selection's order."""
    rank = {_pair_key(p): i for i, p in enumerate(order)}
    results = sorted((r for part in parts for r in part.pair_results), key=lambda r: rank[_pair_key(r.pair)])
    failures = [f for part in parts for f in part.failures]
    scores = [r.score for r in results]
    first = parts[0]
    flip_notes = _flip_notes(first.flip, sum(1 for r in results if r.flipped), len(results))
    return EvalResult(
        dataset=dataset.name, split=dataset.split, method=first.method, model=first.model, preset=first.preset,
        device=first.device, threshold=threshold, alphas=options.alphas,
        protocol=dataset.protocol.format(threshold=threshold), seconds=sum(p.seconds for p in parts),
        pair_results=results, overall=summarize(scores, options.alphas),
        categories=per_category(scores, options.alphas), limit=options.limit,
        notes=notes + _threshold_notes(scores) + flip_notes, failures=failures, flip=first.flip,
    )


def run(
    dataset: EvalDataset,
    method: str,
    *,
    model: str | None = None,
    preset: str = "fast",
    device: str = "auto",
    dtype: str = "auto",
    options: EvalOptions = EvalOptions(),
    progress: Callable[[int, int], None] | None = None,
    should_stop: StopFn | None = None,
    category_prompt: bool = False,
    **overrides: Any,
) -> EvalResult:
    """Build the engine through the registry, evaluate, and free it.

    ``category_prompt``: one engine per category whose prompt names it (DIFT's SPair evaluation
    uses "a photo of a {category}"); pairs, limit and scores are the same as without it.
    """
    from labeler.correspondence import registry

    options = with_flip(options, method, preset)
    threshold, candidates = check_options(dataset, options)
    if category_prompt and method not in PROMPT_METHODS:
        raise UserInputError(f"--category-prompt applies to --method {' or '.join(PROMPT_METHODS)} "
                             f"(the engines with a text prompt), not {method}")
    if category_prompt and "category" in overrides:
        raise UserInputError("--category-prompt sets the category itself; drop --setting category=...")
    if model is None:
        model = registry.default_model(method)

    def build(**extra: Any) -> tuple[Matcher, float]:
        started = time.perf_counter()
        matcher = registry.create_matcher(method, model=model, preset=preset, device=device, dtype=dtype,
                                          **overrides, **extra)
        return matcher, time.perf_counter() - started

    if not category_prompt:
        matcher, load_seconds = build()
        try:
            result = evaluate(dataset, matcher, options, model=model, preset=preset, progress=progress,
                              should_stop=should_stop)
        finally:
            matcher.close()
        result.notes.append(f"engine built in {load_seconds:.1f} s (not counted in 'seconds')")
        return result

    selected = select_pairs(candidates, options.limit)
    groups: dict[str, list[EvalPair]] = {}
    for pair in selected:
        groups.setdefault(pair.category, []).append(pair)
    parts: list[EvalResult] = []
    load_seconds = 0.0
    finished = 0
    for category, pairs in groups.items():
        matcher, seconds = build(category=prompt_category(category))
        load_seconds += seconds

        def sub_progress(done: int, total: int, offset: int = finished) -> None:
            if progress is not None:
                progress(offset + done, len(selected))

        try:
            parts.append(evaluate(replace(dataset, pairs=pairs), matcher,
                                  replace(options, limit=None, categories=None),
                                  model=model, preset=preset, progress=sub_progress, should_stop=should_stop))
        finally:
            matcher.close()
        finished += len(pairs)
    notes = list(dataset.notes)
    if options.categories is not None:
        notes.append(f"--categories {','.join(options.categories)}: {len(candidates)} of {len(dataset.pairs)} pairs")
    if options.limit is not None and options.limit < len(candidates):
        notes.append(f"--limit {options.limit}: first pairs of a round-robin over categories, not the whole split")
    notes.append("prompt 'a photo of a {category}' per category: one engine per category, built in "
                 f"{load_seconds:.1f} s in all (not counted in 'seconds')")
    return merge_parts(dataset, parts, selected, threshold, options, notes)
