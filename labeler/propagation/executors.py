"""Where a run's per-batch prediction step happens: in this process, or on a cluster.

:func:`~labeler.propagation.run.propagate` owns everything that decides *what* is predicted
and *how it is stored* (targets, signatures, resume, stop, flip, the reference cap, never
replacing a confirmed point). An executor only turns batches of targets into predictions:

* :class:`LocalExecutor` (the default): the engine in this process, images read one batch
  ahead (:func:`~labeler.propagation.images.prefetched`).
* ``labeler.cluster.RayExecutor``: the same :class:`BatchPredictor` inside long-lived Ray
  actors, one per GPU (``labeler propagate --ray``).

Both yield lists of :class:`TargetResult` as batches finish; the driver commits each list in
one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from labeler.correspondence.base import DeviceOutOfMemory, Matcher, Prediction, ReferenceState, StopFn, check_stop
from labeler.errors import Cancelled, LabelerError
from labeler.propagation.fallback import HALVE, OutOfMemoryRecovery
from labeler.propagation.images import DECODE_MAX_SIDE, Decoded, ImageTask, prefetched
from labeler.propagation.types import PropagationConfig


@dataclass
class TargetResult:
    """One target's outcome: a prediction in decoded-array pixels (``scale`` maps them back to
    the project's pixels), or the reason it failed."""

    task: ImageTask
    prediction: Prediction | None = None
    scale: tuple[float, float] = (1.0, 1.0)
    error: str | None = None
    offset: tuple[float, float] = (0.0, 0.0)  # project pixels of the array's corner (a crop's)

    def points(self, pose_points):  # noqa: ANN001, ANN201 - flip.Points
        """Predicted points (already divided by ``scale``) moved back to the whole image."""
        ox, oy = self.offset
        return {k: (x + ox, y + oy, c) for k, (x, y, c) in pose_points.items()}


def chunks(items: Sequence[ImageTask], n: int) -> Iterator[list[ImageTask]]:
    for i in range(0, len(items), n):
        yield list(items[i : i + n])


class BatchPredictor:
    """Decoded targets -> :class:`TargetResult` lists: the engine call with the out-of-memory
    fallbacks (:mod:`.fallback`; a halved batch stays halved for the rest of the run) and,
    when one image makes a batch fail, each image on its own so the others still land."""

    def __init__(self, matcher: Matcher, recovery: OutOfMemoryRecovery, batch_size: int) -> None:
        self.matcher = matcher
        self.recovery = recovery
        self.batch = batch_size

    def run(self, loaded: Sequence[Decoded], states: list[ReferenceState], should_stop: StopFn) -> Iterator[list[TargetResult]]:
        unreadable = [TargetResult(d.task, error=d.error or "cannot read") for d in loaded if d.array is None]
        if unreadable:
            yield unreadable
        readable = [d for d in loaded if d.array is not None]
        i = 0
        while i < len(readable):
            if i:
                check_stop(should_stop)
            sub = readable[i : i + self.batch]
            results = self._predict(sub, states, should_stop)
            if results is None:  # out of memory: a fallback was taken, retry
                continue
            i += len(sub)
            yield results

    def _predict(self, batch: list[Decoded], states: list[ReferenceState], should_stop: StopFn) -> list[TargetResult] | None:
        try:
            # should_stop reaches inside the engine: an attention batch can take minutes on its own.
            predictions = self.matcher.predict(states, [d.array for d in batch], should_stop=should_stop)
        except DeviceOutOfMemory as exc:
            step = self.recovery.recover(exc, batch=len(batch))
            if step == HALVE:
                self.batch = max(1, len(batch) // 2)
                return None
            if step is not None:
                return None
            return [TargetResult(d.task, error=f"out of memory: {exc}") for d in batch]
        except Cancelled:
            raise
        except LabelerError as exc:
            if len(batch) > 1:  # find the image that is at fault; the others go on
                out: list[TargetResult] = []
                for d in batch:
                    one = None
                    while one is None:  # with one image, each fallback is taken at most once
                        one = self._predict([d], states, should_stop)
                    out += one
                return out
            return [TargetResult(batch[0].task, error=str(exc))]
        return [TargetResult(d.task, p, d.scale, offset=d.offset) for d, p in zip(batch, predictions, strict=True)]


class Executor(Protocol):
    """Runs the per-batch prediction step of a run (see the module docs)."""

    def run(
        self, tasks: Sequence[ImageTask], states: list[ReferenceState], should_stop: StopFn
    ) -> Iterator[list[TargetResult]]:
        """Results as batches finish (any order); raises Cancelled when ``should_stop``."""
        ...


class LocalExecutor:
    """The engine in this process, the next batch decoded while this one is predicted."""

    def __init__(self, matcher: Matcher, recovery: OutOfMemoryRecovery, batch_size: int, decode_side: int | None = DECODE_MAX_SIDE) -> None:
        self.predictor = BatchPredictor(matcher, recovery, batch_size)
        self.batch_size = batch_size
        self.decode_side = decode_side

    def run(
        self, tasks: Sequence[ImageTask], states: list[ReferenceState], should_stop: Callable[[], bool]
    ) -> Iterator[list[TargetResult]]:
        batches = prefetched(chunks(tasks, self.batch_size), self.decode_side)
        try:
            for loaded in batches:
                check_stop(should_stop)
                yield from self.predictor.run(loaded, states, should_stop)
        finally:
            batches.close()


class Cluster(Protocol):
    """Workers elsewhere that run the prediction step (``labeler.cluster.RayExecutor``).

    :func:`~labeler.propagation.run.propagate` calls :meth:`start` once it knows a model is
    needed, prepares the references through the stand-in engine it returns (so each reference
    is prepared once, on one worker, and cached in the project as in a local run), runs the
    targets through :meth:`executor`, and calls :meth:`close` at the end, however it ends.
    """

    def start(self, config: PropagationConfig, notify: Callable[[str], None]) -> Matcher:
        """Start the workers (each loads the engine); a stand-in engine: its signatures, device
        and ``prepare_reference`` (run on a worker)."""
        ...

    def executor(self, messages: list[str], notify: Callable[[str], None]) -> Executor:
        ...

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        ...
