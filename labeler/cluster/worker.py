"""The body of one cluster worker (a Ray actor): the engine, loaded once, and the same
per-batch step as a local run (:class:`~labeler.propagation.executors.BatchPredictor`).

Plain Python: :mod:`.executor` wraps it with ``ray.remote`` (GPUs, restarts), so this module
imports no Ray and reads as what a worker does. Targets arrive as paths into the shared images
folder and are decoded here; only predictions travel back.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labeler.correspondence.base import DeviceOutOfMemory, ReferenceState
from labeler.errors import LabelerError
from labeler.parallel import map_images
from labeler.propagation.engines import build_matcher
from labeler.propagation.executors import BatchPredictor, TargetResult
from labeler.propagation.fallback import OutOfMemoryRecovery
from labeler.propagation.images import DECODE_MAX_SIDE, ImageTask, decode
from labeler.propagation.state_cache import reference_signature
from labeler.propagation.types import PropagationConfig


class EngineWorker:
    """Builds the engine in its constructor; a failure is kept and reported by :meth:`info`
    (Ray would otherwise only say that the actor died)."""

    def __init__(self, config: PropagationConfig, index: int) -> None:
        self.index = index
        self.messages: list[str] = []
        self.error: str | None = None
        self.matcher = None
        self.predictor: BatchPredictor | None = None
        try:
            self.matcher = build_matcher(config)
        except LabelerError as exc:
            self.error = str(exc)
            return
        self.recovery = OutOfMemoryRecovery(self.matcher, self.messages)
        self.predictor = BatchPredictor(self.matcher, self.recovery, config.batch_size)

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "pid": os.getpid(), "host": socket.gethostname(), "error": self.error}
        if self.matcher is not None:
            out.update(
                device=self.matcher.device,
                method=self.matcher.method,
                signature=self.matcher.signature,
                reference_signature=reference_signature(self.matcher),
                pose_criterion=self.matcher.pose_criterion,
            )
        return out

    def _engine(self):  # noqa: ANN202
        if self.matcher is None:
            raise LabelerError(self.error or "the engine is not loaded")
        return self.matcher

    def prepare_reference(self, image: np.ndarray, points: Mapping[str, tuple[float, float]]) -> ReferenceState:
        matcher = self._engine()
        while True:
            try:
                return matcher.prepare_reference(image, points)
            except DeviceOutOfMemory as exc:
                if self.recovery.recover(exc, batch=1) is None:
                    raise

    def predict(self, states: list[ReferenceState], tasks: Sequence[ImageTask]) -> dict[str, Any]:
        """One batch of targets: its results, the fallback notices it caused, this process's
        id and the seconds it took here (the rest of a batch's time is Ray's)."""
        started = time.perf_counter()
        self._engine()
        assert self.predictor is not None
        loaded = map_images(lambda t: decode(t, DECODE_MAX_SIDE), tasks)
        results: list[TargetResult] = []
        for part in self.predictor.run(loaded, states, lambda: False):
            results += part
        notices = list(self.messages)
        self.messages.clear()
        return {"results": results, "notices": notices, "pid": os.getpid(), "seconds": time.perf_counter() - started}

    def call(self, fn, *args: Any) -> Any:  # noqa: ANN001
        """``fn(engine, *args)`` on this worker's engine (the evaluation's shards)."""
        return fn(self._engine(), *args)
