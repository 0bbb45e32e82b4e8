"""Run a short job (a query, an export, scanning a folder) off the UI thread and get its result
back on the UI thread. Long, cancellable work (propagation) has its own worker: see worker.py."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PyQt6 import sip
from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal, pyqtSlot

log = logging.getLogger(__name__)

#: ``report(done, total, text)``: a job's progress, delivered on the UI thread.
Report = Callable[[int, int, str], None]

_pool: QThreadPool | None = None
_running: set[BackgroundJob] = set()


def pool() -> QThreadPool:
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setMaxThreadCount(2)
    return _pool


class BackgroundJob(QObject):
    """Lives on the UI thread; its slots receive the runnable's signals there (queued)."""

    _done = pyqtSignal(object)
    _failed = pyqtSignal(object)
    _progress = pyqtSignal(int, int, str)
    finished = pyqtSignal()

    def __init__(
        self,
        fn: Callable[..., Any],
        on_done: Callable[[Any], None] | None,
        on_error: Callable[[BaseException], None] | None,
        on_progress: Report | None,
        owner: QObject | None = None,
    ) -> None:
        super().__init__()
        self._owner = owner
        self._fn = fn
        self._on_done = on_done
        self._on_error = on_error
        self._on_progress = on_progress
        self.result: Any = None
        self.error: BaseException | None = None
        self.is_finished = False
        self._done.connect(self._deliver_done)
        self._failed.connect(self._deliver_failed)
        self._progress.connect(self._deliver_progress)

    def run_body(self) -> None:  # on a pool thread
        try:
            if self._on_progress is not None:
                result = self._fn(lambda d, t, text="": self._progress.emit(int(d), int(t), str(text)))
            else:
                result = self._fn()
        except BaseException as exc:  # noqa: BLE001 - delivered to the UI thread
            self._failed.emit(exc)
        else:
            self._done.emit(result)

    def _owner_gone(self) -> bool:
        """The widget the callbacks belong to was deleted meanwhile (a dialog closed while its
        job ran): its callbacks would touch deleted Qt objects, so they are dropped."""
        return self._owner is not None and sip.isdeleted(self._owner)

    @pyqtSlot(object)
    def _deliver_done(self, result: Any) -> None:
        self.result = result
        try:
            if self._on_done is not None and not self._owner_gone():
                self._on_done(result)
        finally:
            self._finish()

    @pyqtSlot(object)
    def _deliver_failed(self, exc: BaseException) -> None:
        self.error = exc
        try:
            if self._owner_gone():
                return
            if self._on_error is not None:
                self._on_error(exc)
            else:
                raise exc
        finally:
            self._finish()

    @pyqtSlot(int, int, str)
    def _deliver_progress(self, done: int, total: int, text: str) -> None:
        if self._on_progress is not None and not self.is_finished and not self._owner_gone():
            self._on_progress(done, total, text)

    def _finish(self) -> None:
        self.is_finished = True
        _running.discard(self)
        self.finished.emit()


class _Runnable(QRunnable):
    def __init__(self, job: BackgroundJob) -> None:
        super().__init__()
        self._job = job

    def run(self) -> None:
        self._job.run_body()


def run_in_background(
    fn: Callable[..., Any],
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    *,
    on_progress: Report | None = None,
    owner: QObject | None = None,
) -> BackgroundJob:
    """Start ``fn()`` (or ``fn(report)`` when ``on_progress`` is given) on a pool thread.

    The callbacks run on the UI thread. Without ``on_error`` an exception goes to the global
    exception hook (a dialog), never silently nowhere. With ``owner``, nothing is delivered once
    that widget is deleted (a dialog closed before its job ended).
    """
    job = BackgroundJob(fn, on_done, on_error, on_progress, owner)
    _running.add(job)
    pool().start(_Runnable(job))
    return job


def wait_all(msecs: int = 10000) -> bool:
    """Block until every started job's body has returned (shutdown, tests)."""
    return pool().waitForDone(msecs)
