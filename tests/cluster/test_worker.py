"""A worker's body without Ray: the local run's per-batch step, its out-of-memory fallbacks kept
per worker, and a model that cannot load reported instead of raised."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from cluster_fixtures import make_project

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "propagation"))
from propagation_fixtures import FakeMatcher  # noqa: E402

from labeler.cluster.worker import EngineWorker  # noqa: E402
from labeler.propagation import PropagationConfig  # noqa: E402
from labeler.propagation.executors import BatchPredictor  # noqa: E402
from labeler.propagation.fallback import OutOfMemoryRecovery  # noqa: E402
from labeler.propagation.images import ImageTask  # noqa: E402
from labeler.store import Project  # noqa: E402


def _tasks(path: Path) -> tuple[list[ImageTask], object]:
    with Project.open(path) as p:
        records = p.list_images()
        tasks = [ImageTask(r.id, r.path, p.image_path(r), r.width, r.height) for r in records]
        ref = records[0]
    state = FakeMatcher().prepare_reference(np.zeros((ref.height, ref.width, 3), np.uint8), {"head": (10.0, 10.0)})
    return tasks, state


def test_out_of_memory_halves_the_batch_on_that_worker_and_says_so(tmp_path):
    path = make_project(tmp_path, 6)
    tasks, state = _tasks(path)
    worker = EngineWorker(PropagationConfig(method="classical", batch_size=4), 0)
    fake = FakeMatcher(oom_above=1)  # a GPU that holds one image at a time
    worker.matcher = fake
    worker.recovery = OutOfMemoryRecovery(fake, worker.messages)
    worker.predictor = BatchPredictor(fake, worker.recovery, 4)
    first = worker.predict([state], tasks[:4])
    assert [r.task.image_id for r in first["results"]] == [t.image_id for t in tasks[:4]]
    assert all(r.prediction is not None for r in first["results"])
    assert any("retrying with 2" in n for n in first["notices"]) and any("retrying with 1" in n for n in first["notices"])
    second = worker.predict([state], tasks[4:])  # the halved batch stays halved on this worker
    assert second["notices"] == [] and fake.batches[-2:] == [1, 1]


def test_a_model_that_cannot_load_is_reported_by_info(tmp_path):
    worker = EngineWorker(PropagationConfig(method="dift", model=str(tmp_path / "missing"), device="cpu"), 3)
    info = worker.info()
    assert info["index"] == 3 and info["pid"] and "missing" in info["error"] and "signature" not in info
