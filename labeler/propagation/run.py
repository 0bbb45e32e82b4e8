"""propagate(): references -> engine -> predictions streamed into the project, batch by batch.

Every batch of targets is committed in one transaction the moment it is predicted, so the GUI
sees it at once and an interruption (Ctrl-C, a crash, kill -9) loses at most the batch in
flight; a re-run skips every image already predicted with the same signature.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from labeler.correspondence.base import Matcher, ReferenceState, check_stop
from labeler.correspondence.cards import is_test_model
from labeler.errors import Cancelled, UserInputError
from labeler.propagation import flip as flipping
from labeler.propagation import state_cache
from labeler.propagation.cost import estimate
from labeler.propagation.engines import MatcherCache, build_matcher, model_name
from labeler.propagation.executors import Cluster, Executor, LocalExecutor, TargetResult
from labeler.propagation.fallback import OutOfMemoryRecovery
from labeler.propagation.images import DECODE_MAX_SIDE
from labeler.propagation.instance_targets import target_tasks
from labeler.propagation.reference_states import BuiltReferences, ReferenceBuilder
from labeler.propagation.review import test_model_warning
from labeler.propagation.references import RefPoint, by_reference, candidate_points, choose, resolve, run_signature
from labeler.propagation.targets import TargetSelection, select_targets
from labeler.propagation.types import (
    STAGE_DONE,
    STAGE_LOADING,
    STAGE_PREDICTING,
    STAGE_REFERENCES,
    NoReferencesError,
    PropagationConfig,
    PropagationPlan,
    PropagationSummary,
    ProgressEvent,
)
from labeler.store import CHANGED_FILE, CONFIRMED_STATUSES, ImageRecord, Project, Schema

log = logging.getLogger(__name__)

ProgressCallback = Callable[[ProgressEvent], None]
NOT_FOUND = "file not found (moved or deleted?)"
#: A labelled image whose file now holds another picture: its points are not used as references.
CHANGED_REFERENCE = "reference not used: " + CHANGED_FILE


def _no_references_message() -> str:
    return (
        "no image has a confirmed visible point yet, so there is nothing to propagate from: "
        "label at least one image first (in the GUI, or `labeler label PROJECT IMAGE name=x,y ...`)"
    )


@dataclass
class _Context:
    """What plan and run both work out from the project (no model needed)."""

    schema: Schema
    flip: bool
    records: list[ImageRecord]
    refs: dict[str, list[RefPoint]]
    selection: TargetSelection
    #: images with confirmed points whose file now holds another picture: not used as references
    replaced_refs: tuple[ImageRecord, ...] = ()

    @property
    def used_points(self) -> list[RefPoint]:
        return [p for pts in self.refs.values() for p in pts]


def _context(project: Project, config: PropagationConfig, records: list[ImageRecord]) -> _Context:
    config.check()
    schema = project.schema()
    if not schema.keypoints:
        raise UserInputError("the project has no keypoints yet; define the schema first (`labeler init --keypoints ...`)")
    by_id = {r.id: r for r in records}
    replaced = {r.id for r in records if r.changed}  # labels placed on another picture: never a reference
    candidates = candidate_points(project)
    chosen = choose((p for p in candidates if p.image_id not in replaced), config.max_references)
    refs = resolve(project, chosen, schema.keypoints, records=by_id)
    selection = select_targets(records, config)
    listed = {r.id for r in selection.changed}
    dropped = sorted({p.image_id for p in candidates} & replaced - listed)
    return _Context(
        schema=schema,
        flip=flipping.flip_enabled(config.flip, schema),
        records=records,
        refs=refs,
        selection=selection,
        replaced_refs=tuple(by_id[i] for i in dropped if i in by_id),
    )


# -- the plan ----------------------------------------------------------------------------------
def plan_propagation(project: Project, config: PropagationConfig, *, matcher: Matcher | None = None) -> PropagationPlan:
    """What :func:`propagate` would do, without loading a model or writing anything.

    The signature (and so the up-to-date count) is known once an engine with the same settings
    has run on this project, or when ``matcher`` (a loaded engine) is given.
    """
    ctx = _context(project, config, project.list_images())
    warnings: list[str] = []
    with_ref = tuple(k for k in ctx.schema.keypoints if k in ctx.refs)
    without = tuple(k for k in ctx.schema.keypoints if k not in ctx.refs)
    if not ctx.refs:
        warnings.append(_no_references_message())
    elif without:
        warnings.append(f"no reference for {', '.join(without)}: these keypoints will not be predicted")
    if config.method != "classical" and is_test_model(config.model):
        warnings.append(test_model_warning(config.model))
    if ctx.selection.flagged:
        warnings.append(f"{len(ctx.selection.flagged)} image(s) flagged skip or no object are not predicted")
    if ctx.selection.missing:
        warnings.append(f"{len(ctx.selection.missing)} selected image(s) were not found at the last check and are skipped")
    if ctx.selection.changed:
        warnings.append(f"{len(ctx.selection.changed)} selected image(s) now hold another picture than the one labelled and are skipped")
    if ctx.replaced_refs:
        warnings.append(f"{len(ctx.replaced_refs)} labelled image(s) now hold another picture than the one labelled; "
                        "their points are not used as references")
    if matcher is not None:
        engine_sig, ref_sig = matcher.signature, state_cache.reference_signature(matcher)
    else:
        memo = state_cache.remembered_engine(project, config)
        engine_sig = memo["signature"] if memo else None
        ref_sig = memo.get("reference_signature") if memo else None
    signature = None
    if engine_sig is not None and ctx.refs:
        signature = run_signature(engine_sig, ctx.used_points, flip=ctx.flip, max_references=config.max_references)
    todo, up_to_date = ctx.selection.split(signature, config.force)
    if ctx.refs and signature is None and not config.force:
        warnings.append("these engine settings have not run on this project yet: every selected image will be predicted")
    # Reference states still to prepare (any settings of this method count as cached when the
    # exact reference signature is not known yet).
    keys = set(project.cache_keys(state_cache.STATE_PREFIX)) if ctx.refs else set()
    method = matcher.method if matcher is not None else config.method
    missing_points = []
    for p in ctx.used_points:
        if ref_sig is not None:
            exact = state_cache.state_key(p, method, ref_sig, state_cache.PLAIN, DECODE_MAX_SIDE)
            cached = exact in keys
        else:
            prefix = state_cache.state_prefix_any_engine(p, method)
            cached = any(k.startswith(prefix) for k in keys)
        if not cached:
            missing_points.append(p)
    cost = estimate(
        config,
        refs_per_keypoint={k: len(v) for k, v in ctx.refs.items()},
        points_to_prepare=len(missing_points),
        images_to_prepare=len({p.image.image_id for p in missing_points}),
        targets=len(todo),
        flip=ctx.flip,
        engine=matcher,
    )
    return PropagationPlan(
        reference_images=len({p.image.image_id for p in ctx.used_points}),
        keypoints_with_reference=with_ref,
        keypoints_without_reference=without,
        targets=len(todo),
        up_to_date=len(up_to_date),
        signature_preview=signature,
        warnings=tuple(warnings),
        cost=cost,
        flip=ctx.flip,
    )


# -- the run -----------------------------------------------------------------------------------
@dataclass
class _Tally:
    started: float = field(default_factory=time.monotonic)
    predicted: int = 0
    written: int = 0
    kept: int = 0
    flipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    not_found: bool = False

    def fail(self, path: str, reason: str) -> None:
        self.failed.append((path, reason))
        if reason == NOT_FOUND or reason.startswith("file not found"):
            self.not_found = True


class _Run:
    def __init__(
        self,
        project: Project,
        config: PropagationConfig,
        matcher: Matcher,
        progress: ProgressCallback,
        should_stop: Callable[[], bool],
        tally: _Tally,
    ) -> None:
        self.project = project
        self.config = config
        self.matcher = matcher
        self.emit = progress
        self.should_stop = should_stop
        self.tally = tally
        self.recovery = OutOfMemoryRecovery(matcher, tally.messages, self._notice)
        self.executor: Executor = LocalExecutor(matcher, self.recovery, config.batch_size)
        self._where = (STAGE_REFERENCES, 0, 0)

    def _notice(self, text: str) -> None:
        stage, done, total = self._where
        self.emit(ProgressEvent(stage, done, total, message=text, notice=True))

    def references(self, ctx: _Context) -> BuiltReferences:
        def report(done: int, total: int, message: str) -> None:
            self._where = (STAGE_REFERENCES, done, total)
            self.emit(ProgressEvent(STAGE_REFERENCES, done, total, message=message))

        builder = ReferenceBuilder(
            self.project,
            self.matcher,
            ctx.schema,
            flip=ctx.flip,
            decode_side=DECODE_MAX_SIDE,
            recovery=self.recovery,
            should_stop=self.should_stop,
            report=report,
        )
        return builder.build(by_reference(ctx.refs))

    def predict(self, todo: Sequence[ImageRecord], states: list[ReferenceState], signature: str, flip: bool) -> None:
        """Predict and commit every target, batch by batch as the executor finishes them.

        Raises Cancelled when stopped on request (what was committed stays)."""
        instances = self.project.all_instances(image_ids=[r.id for r in todo]) if todo else []
        tasks = target_tasks(todo, instances, self.project.image_path)
        total, done = len(tasks), 0
        started = time.monotonic()
        method = self.matcher.method
        model = model_name(self.config, method)
        self._where = (STAGE_PREDICTING, 0, total)
        what = f"{total} image(s)" if total == len(todo) else f"{total} object(s) on {len(todo)} image(s)"
        self.emit(ProgressEvent(STAGE_PREDICTING, 0, total, message=f"predicting {what}"))
        committed: set[tuple[int, int | None]] = set()
        for results in self.executor.run(tasks, states, self.should_stop):
            # A batch that came back twice (a cluster worker died after finishing it) is stored once.
            fresh = [r for r in results if (r.task.image_id, r.task.instance_id) not in committed]
            ids = self._commit(fresh, signature, flip, method, model, states)
            committed.update((r.task.image_id, r.task.instance_id) for r in fresh)
            done += len(fresh)
            self._progress(done, total, started, ids)
            if done < total:
                check_stop(self.should_stop)

    def _progress(self, done: int, total: int, started: float, ids: tuple[int, ...]) -> None:
        self._where = (STAGE_PREDICTING, done, total)
        elapsed = time.monotonic() - started
        rate = done / elapsed if elapsed > 0 and done else None
        eta = (total - done) / rate if rate else None
        self.emit(ProgressEvent(STAGE_PREDICTING, done, total, rate, eta, image_ids=ids))

    def _commit(self, results: list[TargetResult], signature: str, flip: bool, method: str, model: str | None,
                states: Sequence[ReferenceState]) -> tuple[int, ...]:
        """Store one finished batch in one transaction; the ids committed."""
        items = []
        for r in results:
            if r.prediction is None:
                self.tally.fail(r.task.path, r.error or "no prediction")
                continue
            plain, mirrored = flipping.split_poses(r.prediction, r.scale)
            if flip:
                points, flipped = flipping.choose_pose(plain, mirrored, flipping.pose_distances(r.prediction, states))
            else:
                points, flipped = plain, False
            items.append((r.task.image_id, r.points(points), flipped, r.task.instance_id))
            self.tally.flipped += flipped
        if not items:
            return ()
        report = self.project.write_predictions(items, method=method, model=model, preset=self.config.preset, signature=signature)
        self.tally.predicted += report.images
        self.tally.written += report.written
        self.tally.kept += report.kept_confirmed
        return tuple(dict.fromkeys(item[0] for item in items))


def propagate(
    project: Project,
    config: PropagationConfig,
    *,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    matcher: Matcher | None = None,
    matcher_cache: MatcherCache | None = None,
    cluster: Cluster | None = None,
) -> PropagationSummary:
    """Predict every target's keypoints from the project's confirmed points (see the package docs).

    Runs in the caller's thread; ``progress`` is called from it. ``should_stop`` is polled
    between batches and during reference preparation; stopping returns a summary with
    ``stopped=True`` (everything committed so far is kept). ``matcher`` injects an engine (kept
    open); ``matcher_cache`` lends a loaded one (kept loaded); otherwise the engine is built
    from ``config`` and closed at the end. ``cluster`` (e.g. ``labeler.cluster.RayExecutor``)
    runs the prediction step on its workers instead; references, signatures and every commit
    stay here. Raises a LabelerError before writing anything when there is nothing to propagate
    from or the model cannot be loaded.
    """
    if cluster is not None and (matcher is not None or matcher_cache is not None):
        raise ValueError("a cluster run loads its engine on the workers: give no matcher or matcher cache")
    tally = _Tally()
    emit: ProgressCallback = progress or (lambda event: None)
    stop: Callable[[], bool] = should_stop or (lambda: False)
    config.check()
    if not project.images_root_found:
        raise UserInputError(
            f"the images folder {project.images_root} is not found; move it back or point the project at "
            "its new place (labeler add-images)"
        )
    project.check_files()  # flags files gone or replaced since the last check (and un-flags returned ones)
    project.check_positions(statuses=CONFIRMED_STATUSES)  # references: numbers inside their image
    records = project.list_images()
    ctx = _context(project, config, records)
    if not ctx.refs:
        raise NoReferencesError(_no_references_message())
    without = [k for k in ctx.schema.keypoints if k not in ctx.refs]
    if without:
        tally.messages.append(f"no reference for {', '.join(without)}: not predicted")
    tally.failed.extend((r.path, NOT_FOUND) for r in ctx.selection.missing)
    tally.failed.extend((r.path, CHANGED_FILE) for r in ctx.selection.changed)
    tally.failed.extend((r.path, CHANGED_REFERENCE) for r in ctx.replaced_refs)

    def summary(*, stopped: bool, device: str, signature: str | None, up_to_date: int, targets: int) -> PropagationSummary:
        result = PropagationSummary(
            predicted_images=tally.predicted,
            written_points=tally.written,
            kept_confirmed=tally.kept,
            skipped_up_to_date=up_to_date,
            failed=tuple(tally.failed),
            stopped=stopped,
            seconds=time.monotonic() - tally.started,
            device=device,
            messages=tuple(tally.messages),
            signature=signature,
            flipped_images=tally.flipped,
            targets=targets + len(ctx.selection.missing) + len(ctx.selection.changed),  # targets that failed
        )
        emit(ProgressEvent(STAGE_DONE, tally.predicted, result.targets, message="stopped" if stopped else "done"))
        return result

    if not ctx.selection.candidates:
        if not ctx.selection.missing:
            tally.messages.append("nothing to predict: every selected image is fully confirmed")
        return summary(stopped=False, device="-", signature=None, up_to_date=0, targets=0)
    # Nothing to do with the settings of an earlier run? Then no model is needed at all.
    if matcher is None and not config.force:
        memo = state_cache.remembered_engine(project, config)
        if memo is not None:
            guess = run_signature(memo["signature"], ctx.used_points, flip=ctx.flip, max_references=config.max_references)
            todo, up_to_date = ctx.selection.split(guess, False)
            if not todo:
                return summary(stopped=False, device="-", signature=guess, up_to_date=len(up_to_date), targets=0)

    owned = matcher is None and matcher_cache is None and cluster is None
    from_config = matcher is None
    if cluster is not None and matcher is None:
        emit(ProgressEvent(STAGE_LOADING, 0, 1, message=f"starting the {config.method} engine on the cluster's workers"))
        try:
            matcher = cluster.start(config, lambda text: emit(ProgressEvent(STAGE_LOADING, 0, 1, message=text)))
        except BaseException:
            cluster.close()
            raise
        emit(ProgressEvent(STAGE_LOADING, 1, 1, message=f"{config.method} engine on {matcher.device}"))
    elif matcher is None:
        emit(ProgressEvent(STAGE_LOADING, 0, 1, message=f"loading the {config.method} engine"))
        matcher = matcher_cache.get(config) if matcher_cache is not None else build_matcher(config)
        emit(ProgressEvent(STAGE_LOADING, 1, 1, message=f"{config.method} engine on {matcher.device}"))
    run = _Run(project, config, matcher, emit, stop, tally)
    if cluster is not None:
        run.executor = cluster.executor(tally.messages, run._notice)
    signature: str | None = None
    up_to_date: list[ImageRecord] = []
    todo = []
    try:
        if from_config:
            state_cache.remember_engine(project, config, matcher)
        try:
            built = run.references(ctx)
        except Cancelled:
            return summary(stopped=True, device=matcher.device, signature=None, up_to_date=0, targets=0)
        if built.discarded:
            tally.messages.append(
                f"discarded {len(built.discarded)} damaged cached reference state(s) and prepared them again"
            )
        tally.failed.extend(built.failed)
        if not built.used:
            raise NoReferencesError("none of the reference images could be read: " + "; ".join(f"{p}: {r}" for p, r in built.failed))
        signature = run_signature(matcher.signature, built.used, flip=ctx.flip, max_references=config.max_references)
        todo, up_to_date = ctx.selection.split(signature, config.force)
        # a box drawn since (by someone who may not reset the prediction record) is predicted anyway
        boxed = project.images_with_unpredicted_boxes([r.id for r in up_to_date]) if up_to_date else set()
        todo += [r for r in up_to_date if r.id in boxed]
        up_to_date = [r for r in up_to_date if r.id not in boxed]
        try:
            run.predict(todo, built.for_engine(), signature, ctx.flip)
            finished = True
        except Cancelled:
            finished = False
        return summary(stopped=not finished, device=matcher.device, signature=signature, up_to_date=len(up_to_date), targets=len(todo))
    finally:
        if tally.not_found:
            project.check_missing()
        if run.recovery.moved_to_cpu and matcher_cache is not None:
            matcher_cache.evict(matcher)
        if owned:
            matcher.close()
        if cluster is not None:
            cluster.close()
