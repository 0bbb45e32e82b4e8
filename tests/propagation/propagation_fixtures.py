"""A fast fake engine for the propagation logic (no torch), and small project helpers.

The fake "predicts" each keypoint at the mean of its reference positions scaled to the target's
size, so a test knows exactly what must be written; it records every call and can be told to
run out of memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from labeler.correspondence.base import DeviceOutOfMemory, Matcher, Prediction, ReferenceState, check_stop
from labeler.propagation.flip import MIRROR_SUFFIX


@dataclass(frozen=True)
class FakeConfig:
    batch_size: int = 1


@dataclass
class FakeMatcher(Matcher):
    method = "fake"
    name: str = "fake-v1"
    device_name: str = "cuda"
    plain_confidence: float = 0.8
    mirror_confidence: float = 0.3
    oom_above: int | None = None  # batches larger than this raise DeviceOutOfMemory (off the CPU)
    oom_unless_cpu: bool = False  # every call off the CPU runs out of memory
    oom_on_cpu_too: bool = False  # oom_above applies on the CPU as well
    config: FakeConfig = field(default_factory=FakeConfig)
    prepared: list[tuple[tuple[int, int], dict[str, tuple[float, float]]]] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    on_predict: Callable[[int], None] | None = None  # called with the batch size before predicting
    closed: bool = False

    @property
    def signature(self) -> str:
        return self.name

    @property
    def device(self) -> str:
        return self.device_name

    def to(self, device: str) -> None:
        self.device_name = device

    def close(self) -> None:
        self.closed = True

    def prepare_reference(self, image, points, *, progress=None, should_stop=None) -> ReferenceState:  # noqa: ANN001
        check_stop(should_stop)
        h, w = image.shape[:2]
        self.prepared.append(((w, h), dict(points)))
        names = tuple(points)
        return ReferenceState(self.method, self.name, names, np.array([points[n] for n in names]), (w, h),
                              arrays={"mean": np.array([[image.mean()]] * len(names))})

    def predict(self, references: Sequence[ReferenceState], images, *, should_stop=None) -> list[Prediction]:  # noqa: ANN001
        self.batches.append(len(images))
        self.devices.append(self.device_name)
        if self.on_predict is not None:
            self.on_predict(len(images))
        off_cpu = self.oom_on_cpu_too or not self.device_name.startswith("cpu")
        if off_cpu and (self.oom_unless_cpu or (self.oom_above is not None and len(images) > self.oom_above)):
            raise DeviceOutOfMemory("fake out of memory")
        sums: dict[str, list[np.ndarray]] = {}
        for ref in references:
            rw, rh = ref.image_size
            for k, n in enumerate(ref.names):
                sums.setdefault(n, []).append(ref.points[k] / [rw, rh])
        names = tuple(sums)
        out = []
        for im in images:
            check_stop(should_stop)  # as the engines do between images of a batch
            h, w = im.shape[:2]
            xy = np.array([np.mean(sums[n], axis=0) * [w, h] for n in names])
            conf = [self.mirror_confidence if n.endswith(MIRROR_SUFFIX) else self.plain_confidence for n in names]
            out.append(Prediction(names, xy, conf))
        return out


def confirmed_rows(path) -> list[tuple]:  # noqa: ANN001
    """Every confirmed row of a project file, read through a separate plain connection."""
    from labeler.store.project import raw_connection

    conn = raw_connection(path)
    try:
        return conn.execute(
            "SELECT image_id, keypoint_id, x, y, visibility, status FROM point "
            "WHERE status != 'predicted' ORDER BY image_id, keypoint_id"
        ).fetchall()
    finally:
        conn.close()


def predicted_rows(path) -> dict[tuple[int, int], tuple]:  # noqa: ANN001
    from labeler.store.project import raw_connection

    conn = raw_connection(path)
    try:
        rows = conn.execute(
            "SELECT image_id, keypoint_id, x, y, confidence, method, updated_at FROM point WHERE status = 'predicted'"
        ).fetchall()
    finally:
        conn.close()
    return {(r[0], r[1]): r[2:] for r in rows}


def integrity(path) -> str:  # noqa: ANN001
    from labeler.store.project import raw_connection

    conn = raw_connection(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def label(project, rel: str, points: Mapping[str, tuple[float, float]]) -> int:  # noqa: ANN001
    image = project.find_image(rel)
    project.set_points(image.id, dict(points))
    return image.id
