"""The Ray executor: propagation's prediction step on long-lived actors, one per GPU.

The driver (the process that runs :func:`labeler.propagation.propagate`) keeps everything that
decides what is predicted and how it is stored; workers only predict:

* each worker (:class:`~labeler.cluster.worker.EngineWorker`) loads the engine once;
* references are prepared through :class:`RemoteEngine` on one worker, cached in the project by
  the driver, and shipped to every worker once through Ray's object store (``ray.put``);
* targets travel as batches of image paths; workers read them from the shared images folder;
* results come back batch by batch and the driver commits each as it lands (with the run's
  signature, so a re-run resumes). Workers never write to the project: they write via the driver.

Faults: a worker whose process dies is restarted by Ray and its batches retried
(``max_restarts``/``max_task_retries``); a batch whose worker is gone for good goes to another
worker. The driver commits a batch only when its result arrives, and :func:`propagate` stores an
image at most once per run. Stop cancels the batches in flight and kills the workers.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from labeler.cluster.connection import LOCAL, ClusterError, ClusterOptions, connect, disconnect
from labeler.cluster.head import HeadLost, HeadWatch, token_mode
from labeler.cluster.worker import EngineWorker
from labeler.correspondence.base import Matcher, Prediction, ReferenceState, StopFn
from labeler.errors import Cancelled, LabelerError
from labeler.propagation.executors import TargetResult, chunks
from labeler.propagation.images import ImageTask
from labeler.propagation.types import PropagationConfig

#: How often the driver looks at the stop flag while it waits for workers.
POLL_S = 0.1
#: Restarts of a worker process that died, and retries of its batches, before giving up on it.
MAX_RESTARTS = 3
#: Batches queued per worker, so a worker never waits for the driver between two batches.
IN_FLIGHT = 2
#: Seconds between notices while workers start.
WAIT_NOTICE_S = 30.0
#: Attempts of one batch across workers whose restarts were used up.
MAX_ATTEMPTS = 3
#: Seconds between looks at the head while workers start.
HEAD_POLL_S = 1.0

STARTING, READY, BUSY, DEAD = "starting", "ready", "busy", "dead"


@dataclass(frozen=True)
class WorkerStatus:
    index: int
    state: str = STARTING
    host: str = "?"
    pid: int | None = None
    device: str = "?"
    batches: int = 0
    images: int = 0
    error: str | None = None

    def describe(self) -> str:
        where = f"{self.host} pid {self.pid}" if self.pid else self.host
        text = f"worker {self.index + 1} ({where}, {self.device}): {self.state}, {self.images} image(s)"
        return f"{text}: {self.error}" if self.error else text

    def tally(self) -> str:
        """One line for a run's summary: what this worker did."""
        where = f"{self.host} pid {self.pid}" if self.pid else self.host
        text = f"worker {self.index + 1} ({where}, {self.device}): {self.images} image(s) in {self.batches} batch(es)"
        return f"{text}, then gone: {self.error}" if self.state == DEAD else text


StatusFn = Callable[[tuple[WorkerStatus, ...]], None]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1][:300] if text else ''}".rstrip(": ")


class RemoteEngine(Matcher):
    """What the driver needs of the engine: its signatures and device, and reference
    preparation (run on one worker). Targets go through :meth:`RayExecutor.run` instead."""

    def __init__(self, pool: RayExecutor, info: Mapping[str, Any]) -> None:
        self.pool = pool
        self.method = str(info["method"])  # type: ignore[misc]
        self._signature = str(info["signature"])
        self.reference_signature = str(info["reference_signature"])
        self._device = str(info["device"])
        self._pose_criterion = str(info.get("pose_criterion", "confidence"))

    @property
    def signature(self) -> str:
        return self._signature

    @property
    def device(self) -> str:
        return self._device

    @property
    def pose_criterion(self) -> str:
        return self._pose_criterion

    def prepare_reference(self, image, points, *, progress=None, should_stop=None) -> ReferenceState:  # noqa: ANN001
        return self.pool.prepare_reference(image, dict(points), should_stop)

    def predict(self, references, images, *, should_stop=None) -> list[Prediction]:  # noqa: ANN001
        raise NotImplementedError("a cluster run predicts through RayExecutor.run")


class RayExecutor:
    """A :class:`~labeler.propagation.executors.Cluster` on Ray (``labeler propagate --ray``)."""

    def __init__(self, options: ClusterOptions, *, on_status: StatusFn | None = None) -> None:
        options.check()
        self.options = options
        self.on_status = on_status
        self.ray: Any = None
        self._owns_ray = False
        self.actors: list[Any] = []
        self.status: list[WorkerStatus] = []
        self.batch_size = 1
        self.messages: list[str] = []
        self.notify: Callable[[str], None] = lambda text: None
        self.batch_seconds: list[float] = []  # worker-side time of each batch (benchmarks)
        self.watch: HeadWatch | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def connect(self) -> None:
        """Reach the cluster now (the CLI calls it first, so a bad address fails at once)."""
        if self.ray is None:
            self.ray, self._owns_ray = connect(self.options)
            self.watch = HeadWatch(self.ray.get_runtime_context().gcs_address)

    def _owns_local(self) -> bool:
        return self.options.address == LOCAL

    def _check_head(self, *, settle: bool = False) -> None:
        """A lost head ends the run now, in words, with what is saved (Ray's core would end this
        process after a minute, with exit status 1 and no summary)."""
        if self.watch is None:
            return
        try:
            self.watch.settle() if settle else self.watch.check()
        except HeadLost as exc:
            port = self.watch.port
            self._abandon()
            done = sum(s.images for s in self.status)
            raise HeadLost(
                f"{exc}; the {done} image(s) predicted in this run are saved. Start the head again "
                f"(`ray start --head --port={port}`, then `ray start --address=...` on the other "
                "nodes) and run the same command: it predicts only what is missing"
            ) from None

    def _shape(self) -> tuple[int, float]:
        resources = self.ray.cluster_resources()
        gpus, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 0))
        per_gpu = self.options.gpus_per_worker
        if per_gpu is None:
            per_gpu = 1.0 if gpus >= 1 else 0.0
        workers = self.options.workers
        if workers is None:
            workers = max(1, int(gpus // per_gpu)) if per_gpu > 0 else 1
        if workers * per_gpu > gpus + 1e-9:
            raise ClusterError(
                f"{workers} worker(s) with {per_gpu:g} GPU each need {workers * per_gpu:g} GPU(s); "
                f"the cluster has {gpus:g} (use fewer --workers or --gpus-per-worker 0 for CPU workers)"
            )
        if workers * self.options.cpus_per_worker > cpus + 1e-9:
            raise ClusterError(
                f"{workers} worker(s) need {workers * self.options.cpus_per_worker:g} CPU(s); the cluster has {cpus:g}"
            )
        return workers, per_gpu

    def start(self, config: PropagationConfig, notify: Callable[[str], None]) -> Matcher:
        self.connect()
        workers, per_gpu = self._shape()
        remote = self.ray.remote(EngineWorker)
        self.batch_size = config.batch_size
        self.status = [WorkerStatus(i) for i in range(workers)]
        for i in range(workers):
            self.actors.append(
                remote.options(
                    num_cpus=self.options.cpus_per_worker,
                    num_gpus=per_gpu,
                    max_restarts=MAX_RESTARTS,
                    max_task_retries=MAX_RESTARTS,
                ).remote(config, i)
            )
        self._publish()
        pending = [actor.info.remote() for actor in self.actors]
        began = noticed = time.monotonic()
        while True:  # say what is going on while models load (or the cluster has no room yet)
            ready, rest = self.ray.wait(pending, num_returns=len(pending), timeout=HEAD_POLL_S)
            if not rest:
                break
            self._check_head()
            if time.monotonic() - noticed >= WAIT_NOTICE_S:
                noticed = time.monotonic()
                notify(f"{len(rest)} of {workers} Ray worker(s) still starting after {noticed - began:.0f} s "
                       "(loading the model, or waiting for a free GPU/CPU on the cluster)")
        infos = []
        for i, ref in enumerate(pending):
            try:
                info = self.ray.get(ref)
            except self.ray.exceptions.RayError as exc:
                hint = ""
                if token_mode() and not self._owns_local():
                    hint = ("; this driver runs with RAY_AUTH_MODE=token: if the cluster was started without "
                            "token authentication its workers cannot call the driver back (unset RAY_AUTH_MODE)")
                raise ClusterError(f"worker {i + 1} died while loading the engine: {_reason(exc)}{hint}") from None
            if info["error"]:
                raise ClusterError(f"worker {i + 1} on {info['host']} cannot load the engine: {info['error']}")
            self._set(i, state=READY, host=info["host"], pid=info["pid"], device=info["device"])
            infos.append(info)
        signatures = {info["signature"] for info in infos}
        if len(signatures) > 1:
            raise ClusterError(
                "the workers load different engines (other labeler or model versions on some machines): "
                + ", ".join(f"{i['host']}: {i['signature']}" for i in infos)
            )
        devices = sorted({info["device"] for info in infos})
        notify(f"{workers} Ray worker(s) ready on {', '.join(sorted({i['host'] for i in infos}))} ({', '.join(devices)})")
        first = dict(infos[0], device=f"ray: {workers} x {'/'.join(devices)}")
        return RemoteEngine(self, first)

    def close(self) -> None:
        ray, actors, self.actors = self.ray, self.actors, []
        if ray is None:
            return
        for actor in actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._idle()
        if self._owns_ray:
            disconnect(ray)
        self.ray, self._owns_ray = None, False

    def _abandon(self) -> None:
        """The head is gone: its actors cannot be reached to kill (they die with their raylets or,
        on surviving nodes, once they notice their owner, this driver, is gone); leave Ray now."""
        self.actors = []
        self._idle()
        if self.ray is not None and self._owns_ray:
            disconnect(self.ray)
        self.ray, self._owns_ray, self.watch = None, False, None

    def _idle(self) -> None:
        """After a run no worker is busy (the app's status line says so)."""
        if any(s.state == BUSY for s in self.status):
            self.status = [replace(s, state=READY) if s.state == BUSY else s for s in self.status]
            self._publish()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- status --------------------------------------------------------------------------------
    def _set(self, index: int, **changes: Any) -> None:
        self.status[index] = replace(self.status[index], **changes)
        self._publish()

    def _publish(self) -> None:
        if self.on_status is not None:
            self.on_status(tuple(self.status))

    def _live(self) -> list[int]:
        return [i for i, s in enumerate(self.status) if s.state != DEAD]

    # -- the work ------------------------------------------------------------------------------
    def _wait(self, ref: Any, should_stop: StopFn | None) -> Any:
        while True:
            ready, _ = self.ray.wait([ref], timeout=POLL_S)
            if not ready:
                self._check_head()
            if ready:
                try:
                    return self.ray.get(ref)
                except self.ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, LabelerError):  # the worker's message, without Ray's traceback
                        raise cause from None
                    raise
            if should_stop is not None and should_stop():
                self.ray.cancel(ref)
                raise Cancelled("stopped on request")

    def prepare_reference(self, image: np.ndarray, points: dict[str, tuple[float, float]], should_stop: StopFn | None) -> ReferenceState:
        last: BaseException | None = None
        for i in self._live():
            try:
                return self._wait(self.actors[i].prepare_reference.remote(image, points), should_stop)
            except LabelerError:
                raise
            except self.ray.exceptions.RayActorError as exc:  # gone for good: the next worker prepares it
                self._set(i, state=DEAD, error=_reason(exc))
                last = exc
        raise ClusterError(f"no worker left to prepare the references: {_reason(last) if last else 'none started'}")

    def executor(self, messages: list[str], notify: Callable[[str], None]) -> RayExecutor:
        self.messages, self.notify = messages, notify
        return self

    def run(self, tasks: Sequence[ImageTask], states: list[ReferenceState], should_stop: StopFn) -> Iterator[list[TargetResult]]:
        states_ref = self.ray.put(states)  # once; every worker reads it from the object store
        batches = list(chunks(tasks, self.batch_size))
        for worker, batch, out, error in self.map(lambda actor, b: actor.predict.remote(states_ref, b), batches, should_stop):
            if error is not None:
                yield [TargetResult(t, error=f"worker {worker + 1}: {_reason(error)}") for t in batch]
                continue
            self.batch_seconds.append(out["seconds"])
            for text in out["notices"]:
                self.messages.append(f"worker {worker + 1}: {text}")
                self.notify(f"worker {worker + 1}: {text}")
            s = self.status[worker]
            self._set(worker, pid=out["pid"], batches=s.batches + 1, images=s.images + len(batch))
            yield out["results"]

    def map(self, submit: Callable[[Any, Any], Any], jobs: Sequence[Any], should_stop: StopFn | None = None) -> Iterator[tuple[int, Any, Any, BaseException | None]]:
        """``(worker, job, result, None)`` for each job as it finishes (any order), or
        ``(worker, job, None, error)`` when the job itself failed (or every worker that tried it
        died). ``submit(actor, job)`` sends one job; at most IN_FLIGHT wait per worker."""
        ray = self.ray
        queue: deque[tuple[Any, int]] = deque((job, 0) for job in jobs)
        flight: dict[Any, tuple[int, Any, int]] = {}  # ref -> (worker, job, attempts)
        try:
            while queue or flight:
                self._fill(queue, flight, submit)
                if not flight:
                    self._check_head(settle=True)  # workers die with their head: then say that instead
                    raise ClusterError("every Ray worker died: " + "; ".join(s.describe() for s in self.status))
                ready, _ = ray.wait(list(flight), num_returns=1, timeout=POLL_S)
                self._check_head()
                if should_stop is not None and should_stop():  # what is in flight is dropped: stopped within one batch
                    raise Cancelled("stopped on request")
                for ref in ready:
                    worker, job, attempts = flight.pop(ref)
                    try:
                        out = ray.get(ref)
                    except ray.exceptions.RayActorError as exc:
                        # Ray restarted the worker and retried MAX_RESTARTS times: it is gone. Workers
                        # also die with their head: then that is what is said (once).
                        self._check_head(settle=True)
                        if self.status[worker].state != DEAD:  # its other batches fail too: say it once
                            self._set(worker, state=DEAD, error=_reason(exc))
                            self.notify(f"Ray worker {worker + 1} is gone ({_reason(exc)}); its work goes to the others")
                        if attempts + 1 >= MAX_ATTEMPTS:
                            yield worker, job, None, exc
                        else:
                            queue.appendleft((job, attempts + 1))
                        continue
                    except ray.exceptions.TaskCancelledError:
                        continue
                    except ray.exceptions.RayTaskError as exc:  # an error inside the worker's code
                        cause = getattr(exc, "cause", None)
                        yield worker, job, None, cause if cause is not None else exc
                        continue
                    if not any(w == worker for w, *_ in flight.values()) and not queue:
                        self._set(worker, state=READY)  # nothing more for it: idle
                    yield worker, job, out, None
        finally:
            if self.ray is not None:
                for ref in flight:
                    ray.cancel(ref)
            self._idle()

    def _fill(self, queue: deque, flight: dict, submit: Callable[[Any, Any], Any]) -> None:
        load = {i: 0 for i in self._live()}
        for worker, *_ in flight.values():
            if worker in load:
                load[worker] += 1
        while queue and load:
            worker = min(load, key=lambda i: (load[i], i))
            if load[worker] >= IN_FLIGHT:
                return
            job, attempts = queue.popleft()
            flight[submit(self.actors[worker], job)] = (worker, job, attempts)
            load[worker] += 1
            if self.status[worker].state == READY:
                self._set(worker, state=BUSY)
