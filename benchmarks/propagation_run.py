"""One end-to-end propagation, timed: decode -> engine -> points committed in the store."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmarks.machine import PeakMemory, synchronize
from labeler.correspondence.base import Matcher
from labeler.propagation import (
    STAGE_DONE,
    STAGE_PREDICTING,
    ProgressEvent,
    PropagationConfig,
    build_matcher,
    propagate,
)
from labeler.store import Project


@dataclass
class TimedRun:
    load_s: float  # building the engine (model load)
    reference_s: float  # propagate() start -> first prediction event (reference states)
    predict_s: float  # prediction loop: first -> last event (decode, engine, commit)
    targets: int
    predicted: int
    failed: int
    peak_rss_gib: float
    peak_gpu_gib: float | None
    events: list[tuple[float, str, int]] = field(default_factory=list)
    predict_cpu_s: float = float("nan")  # this process's CPU time during the prediction loop

    @property
    def cpu_share(self) -> float:
        """CPU time over wall time x torch threads: well below 1 when other processes took the cores."""
        return self.predict_cpu_s / (self.predict_s * torch.get_num_threads()) if self.predict_s > 0 else float("nan")

    @property
    def images_per_s(self) -> float:
        return self.predicted / self.predict_s if self.predict_s > 0 else float("nan")


def load_engine(config: PropagationConfig, device: torch.device) -> tuple[Matcher, float]:
    start = time.perf_counter()
    matcher = build_matcher(config)
    synchronize(device)
    return matcher, time.perf_counter() - start


def timed_propagation(project_file: Path, config: PropagationConfig, matcher: Matcher, device: torch.device,
                      load_s: float = float("nan"), on_event: Callable[[ProgressEvent], None] | None = None) -> TimedRun:
    """Run :func:`propagate` with an already loaded engine and time its stages from its progress events.

    ``on_event`` sees every progress event first (e.g. to read counters when prediction starts).
    """
    events: list[tuple[float, str, int]] = []
    cpu: dict[str, float] = {}

    def progress(event: ProgressEvent) -> None:
        if on_event is not None:
            on_event(event)
        events.append((time.perf_counter(), event.stage, event.done))
        if event.stage == STAGE_PREDICTING:
            cpu.setdefault("first", time.process_time())
        elif event.stage == STAGE_DONE:
            cpu["last"] = time.process_time()

    with Project.open(project_file) as project, PeakMemory(device) as peak:
        synchronize(device)
        start = time.perf_counter()
        summary = propagate(project, config, matcher=matcher, progress=progress)
        synchronize(device)
        end = time.perf_counter()
    pred = [t for t, stage, _ in events if stage == STAGE_PREDICTING]
    first = pred[0] if pred else end
    done = [t for t, stage, _ in events if stage == STAGE_DONE]
    last = done[-1] if done else end
    return TimedRun(
        load_s=load_s,
        reference_s=first - start,
        predict_s=last - first,
        targets=summary.targets,
        predicted=summary.predicted_images,
        failed=len(summary.failed),
        peak_rss_gib=peak.rss_gib,
        peak_gpu_gib=peak.gpu_gib,
        events=[(t - start, s, d) for t, s, d in events],
        predict_cpu_s=cpu.get("last", time.process_time()) - cpu.get("first", time.process_time()),
    )


def summary_dict(run: TimedRun) -> dict[str, Any]:
    return {
        "load_s": run.load_s,
        "reference_s": run.reference_s,
        "predict_s": run.predict_s,
        "targets": run.targets,
        "predicted": run.predicted,
        "failed": run.failed,
        "images_per_s": run.images_per_s,
        "peak_rss_gib": run.peak_rss_gib,
        "peak_gpu_gib": run.peak_gpu_gib,
        "predict_cpu_s": run.predict_cpu_s,
        "cpu_share": run.cpu_share,
    }
