"""Propagation off the UI thread.

Split as in napari-deeplabcut's tracking: :class:`PropagationWorker` is the job (moved to a
QThread; it calls :func:`labeler.propagation.propagate` and nothing else), and
:class:`PropagationRunner` is the UI-thread side that owns the thread, remembers whether a
run is going on, relays signals and asks the job to stop. Stopping sets a flag that
``propagate`` polls between batches; what was committed before stays.
"""

from __future__ import annotations

import gc
import logging
import threading
import traceback

from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

from labeler.cluster.connection import ClusterOptions
from labeler.errors import LabelerError
from labeler.propagation import (
    STAGE_LOADING,
    MatcherCache,
    ProgressEvent,
    PropagationConfig,
    PropagationSummary,
    propagate,
)
from labeler.store import Project

log = logging.getLogger(__name__)

_prepared: set[str] = set()
_prepare_lock = threading.Lock()


class PausedCollector:
    """Pauses Python's cyclic garbage collector while an engine loads, then freezes what the
    loading created (those objects are never scanned again) and resumes it.

    Loading torch, diffusers and a model creates millions of objects, and every full collection
    meanwhile holds the GIL for a few hundred ms; the UI thread, which needs the GIL to paint,
    stalls each time. Reference counting still frees everything acyclic while paused.
    """

    def __init__(self) -> None:
        self._enabled = gc.isenabled()
        self.active = False

    def pause(self) -> None:
        if not self.active:
            self._enabled = gc.isenabled()
            gc.disable()
            self.active = True

    def resume(self) -> None:
        if self.active:
            self.active = False
            gc.freeze()
            if self._enabled:
                gc.enable()


def prepare_engine(method: str) -> None:
    """Import an engine's libraries (torch, diffusers) with the collector paused (see
    :class:`PausedCollector`). Loading torch's C library still holds the GIL once, for a few
    hundred ms; the app calls this in the background right after it starts, so a propagation
    never pays it while the annotator works."""
    with _prepare_lock:
        if method in _prepared:
            return
        from labeler.correspondence.registry import engine_module

        collector = PausedCollector()
        collector.pause()
        try:
            engine_module(method)
        finally:
            collector.resume()
        _prepared.add(method)


def warm_up(method: str = "dift") -> threading.Thread:
    """:func:`prepare_engine` in a daemon thread (errors are left for the real run to report)."""

    def run() -> None:
        try:
            prepare_engine(method)
        except Exception as exc:  # noqa: BLE001 - a broken torch install is reported by the run
            log.info("warming up the %s engine failed: %s", method, exc)

    thread = threading.Thread(target=run, name="labeler-warm-up", daemon=True)
    thread.start()
    return thread


class PropagationWorker(QObject):
    """Runs one propagation in whatever thread it lives in, on the window's own Project.

    The Project's pool gives this thread a connection of its own, so the UI thread's reads never
    wait on it (SQLite WAL). It never opens the file a second time: a second open in one process
    could drop this process's locks on the file (see ``labeler.store.database.probe_file``)."""

    progress = pyqtSignal(object)  # ProgressEvent
    finished = pyqtSignal(object)  # PropagationSummary
    failed = pyqtSignal(str, str)  # message for the user, traceback ("" for a LabelerError)
    workers = pyqtSignal(object)  # tuple of labeler.cluster.WorkerStatus (a cluster run)

    def __init__(
        self,
        project: Project,
        config: PropagationConfig,
        matcher_cache: MatcherCache | None = None,
        cluster: ClusterOptions | None = None,
    ) -> None:
        super().__init__()
        self.project = project
        self.config = config
        self.matcher_cache = matcher_cache
        self.cluster = cluster
        self._stop = threading.Event()

    def stop(self) -> None:
        """Thread-safe: ``propagate`` sees it at its next check (between batches)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @pyqtSlot()
    def run(self) -> None:
        collector = PausedCollector()

        def progress(event: ProgressEvent) -> None:
            if event.stage != STAGE_LOADING:
                collector.resume()  # the engine is loaded
            self.progress.emit(event)

        try:
            executor = None
            if self.cluster is not None:  # the engine loads on the workers, not here
                from labeler.cluster import RayExecutor

                executor = RayExecutor(self.cluster, on_status=self.workers.emit)
            else:
                prepare_engine(self.config.method)
            collector.pause()
            summary = propagate(
                self.project,
                self.config,
                progress=progress,
                should_stop=self._stop.is_set,
                matcher_cache=self.matcher_cache if executor is None else None,
                cluster=executor,
            )
        except LabelerError as exc:
            self.failed.emit(str(exc), "")
        except Exception as exc:  # noqa: BLE001 - reported to the user, never kills the app
            details = traceback.format_exc()
            log.error("propagation failed:\n%s", details)
            self.failed.emit(f"propagation failed: {type(exc).__name__}: {exc}", details)
        else:
            self.finished.emit(summary)
        finally:
            collector.resume()


class PropagationRunner(QObject):
    """One propagation at a time. Signals arrive on the UI thread."""

    started = pyqtSignal(object)  # PropagationConfig
    progress = pyqtSignal(object)  # ProgressEvent
    images_updated = pyqtSignal(object)  # tuple of image ids whose predictions just landed
    finished = pyqtSignal(object)  # PropagationSummary
    failed = pyqtSignal(str, str)
    running_changed = pyqtSignal(bool)
    workers = pyqtSignal(object)  # tuple of WorkerStatus (a cluster run)

    def __init__(self, matcher_cache: MatcherCache | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._owns_cache = matcher_cache is None  # a lent cache stays open for its owner
        self.matcher_cache = matcher_cache if matcher_cache is not None else MatcherCache()
        self._thread: QThread | None = None
        self._worker: PropagationWorker | None = None
        self.last_config: PropagationConfig | None = None
        self.last_cluster: ClusterOptions | None = None
        self.last_summary: PropagationSummary | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def stopping(self) -> bool:
        return self._worker is not None and self._worker.stop_requested

    def start(self, project: Project, config: PropagationConfig, cluster: ClusterOptions | None = None) -> bool:
        """Start a run on ``project`` (which must stay open until the run ends), on a Ray cluster
        when ``cluster`` is given; False (and nothing started) when one is already going on."""
        if self.running:
            return False
        thread = QThread()
        thread.setObjectName("labeler-propagation")
        worker = PropagationWorker(project, config, self.matcher_cache, cluster)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self._on_progress)
        worker.workers.connect(self.workers)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        self._thread, self._worker = thread, worker
        self.last_config, self.last_cluster = config, cluster
        thread.start()
        self.started.emit(config)
        self.running_changed.emit(True)
        return True

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()

    def wait(self, msecs: int = 60000) -> bool:
        """Block until the run's thread has ended (shutdown). True if it did."""
        thread = self._thread
        return True if thread is None else thread.wait(msecs)

    def close(self, wait_ms: int = 15000) -> bool:
        """Stop any run and wait for it (at most ``wait_ms``: a model still loading cannot be
        interrupted), free the loaded engine unless the cache was lent. False: still running."""
        self.stop()
        if self._thread is not None:
            self._thread.quit()
            if not self._thread.wait(wait_ms):
                log.warning("the propagation thread did not stop within %d ms", wait_ms)
                return False
            self._cleanup()
            self.running_changed.emit(False)
        if self._owns_cache:
            self.matcher_cache.close()
        return True

    # -- worker signals (queued onto the UI thread) --------------------------------------------
    @pyqtSlot(object)
    def _on_progress(self, event: ProgressEvent) -> None:
        self.progress.emit(event)
        if event.image_ids:
            self.images_updated.emit(tuple(event.image_ids))

    @pyqtSlot(object)
    def _on_finished(self, summary: PropagationSummary) -> None:
        self.last_summary = summary
        self._end()
        self.finished.emit(summary)

    @pyqtSlot(str, str)
    def _on_failed(self, message: str, details: str) -> None:
        self._end()
        self.failed.emit(message, details)

    def _end(self) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
        self._cleanup()
        self.running_changed.emit(False)

    def _cleanup(self) -> None:
        # the thread has ended, so both objects can go with their Python references
        self._thread = self._worker = None
