"""``labeler eval --ray``: a benchmark's pairs sharded over Ray workers, the same PCK as one process.

Pairs are sharded by source image, whole: each shard runs the ordinary
:func:`~labeler.evaluation.runner.evaluate` on a worker's engine, so every source's reference
is prepared once and its targets are batched exactly as in a single-process run (the same
engine inputs, hence the same predictions and the same PCK). The driver merges the shards'
results in the selection's order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from labeler.cluster.connection import ClusterOptions
from labeler.cluster.executor import RayExecutor, StatusFn
from labeler.correspondence.base import Matcher, StopFn
from labeler.errors import LabelerError, UserInputError
from labeler.evaluation.pairs import EvalDataset, EvalPair
from labeler.evaluation.runner import (
    EvalOptions,
    EvalResult,
    check_options,
    evaluate,
    merge_parts,
    select_pairs,
    with_flip,
)
from labeler.propagation.types import PropagationConfig

#: Shards per worker: enough that a fast worker takes over a slow one's share near the end.
SHARDS_PER_WORKER = 4


def shard_pairs(pairs: list[EvalPair], shards: int) -> list[list[EvalPair]]:
    """Consecutive runs of whole source groups, about equal in pairs, in selection order."""
    groups: dict[str, list[EvalPair]] = {}
    for pair in pairs:
        groups.setdefault(str(pair.src_path), []).append(pair)
    target = max(1, -(-len(pairs) // max(1, shards)))
    out: list[list[EvalPair]] = [[]]
    for group in groups.values():
        if out[-1] and len(out[-1]) + len(group) > target:
            out.append([])
        out[-1].extend(group)
    return [s for s in out if s]


def _evaluate_shard(matcher: Matcher, dataset: EvalDataset, options: EvalOptions, model: str | None, preset: str) -> EvalResult:
    """Runs on a worker."""
    return evaluate(dataset, matcher, options, model=model, preset=preset)


def run_sharded(
    dataset: EvalDataset,
    method: str,
    cluster: ClusterOptions,
    *,
    model: str | None = None,
    preset: str = "fast",
    device: str = "auto",
    dtype: str = "auto",
    options: EvalOptions = EvalOptions(),
    progress: Callable[[int, int], None] | None = None,
    should_stop: StopFn | None = None,
    on_status: StatusFn | None = None,
    notify: Callable[[str], None] | None = None,
    **overrides: Any,
) -> EvalResult:
    from labeler.correspondence import registry

    options = with_flip(options, method, preset)
    threshold, candidates = check_options(dataset, options)
    if model is None:
        model = registry.default_model(method)
    selected = select_pairs(candidates, options.limit)
    if not selected:
        raise UserInputError("no pairs to evaluate")
    config = PropagationConfig(method=method, model=model, preset=preset, device=device, dtype=dtype,
                               batch_size=options.batch_size, overrides=overrides)
    shard_options = replace(options, limit=None, categories=None)
    started = time.perf_counter()
    with RayExecutor(cluster, on_status=on_status) as executor:
        engine = executor.start(config, notify or (lambda text: None))
        shards = shard_pairs(selected, SHARDS_PER_WORKER * len(executor.actors))
        done = 0
        parts: list[EvalResult] = []
        if progress is not None:
            progress(0, len(selected))

        def submit(actor: Any, shard: list[EvalPair]) -> Any:
            return actor.call.remote(_evaluate_shard, replace(dataset, pairs=shard), shard_options, model, preset)

        for worker, shard, part, error in executor.map(submit, shards, should_stop):
            if error is not None:
                if isinstance(error, LabelerError):
                    raise error
                raise LabelerError(f"worker {worker + 1} failed on {len(shard)} pair(s): {type(error).__name__}: {error}")
            parts.append(part)
            done += len(shard)
            if progress is not None:
                progress(done, len(selected))
    notes = list(dataset.notes)
    if options.categories is not None:
        notes.append(f"--categories {','.join(options.categories)}: {len(candidates)} of {len(dataset.pairs)} pairs")
    if options.limit is not None and options.limit < len(candidates):
        notes.append(f"--limit {options.limit}: first pairs of a round-robin over categories, not the whole split")
    notes.append(f"on Ray: {len(shards)} shard(s) over {len(executor.status)} worker(s), {engine.device}; "
                 "'seconds' is the wall time of the sharded run, engine loading included")
    result = merge_parts(dataset, parts, selected, threshold, options, notes)
    result.seconds = time.perf_counter() - started
    result.device = engine.device
    return result
