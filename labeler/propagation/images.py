"""Reading target and reference images for a run, one batch ahead, several images at once.

Large JPEGs are decoded at a reduced scale (never below :data:`DECODE_MAX_SIDE` on the long
side: every engine works at 768 px or less), and coordinates are mapped between the decoded
array and the image as the project knows it with the exact per-axis ratio of their sizes
(``x -> x * array_width / width``), following the coordinate convention of
:mod:`labeler.correspondence.base`.

A task with a ``crop`` (one object's box with a margin, in project pixels) hands the engine only
that part of the decoded image; ``Decoded.offset`` (the crop's corner in project pixels) maps
its predictions back: ``project = offset + array / scale``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labeler.errors import ImageReadError
from labeler.imaging import load_rgb
from labeler.parallel import map_images

#: Long side below which images are never decoded at a reduced scale.
DECODE_MAX_SIDE = 1024


@dataclass(frozen=True)
class ImageTask:
    image_id: int
    path: str  # relative to the images root (for messages)
    file: Path
    width: int  # as the project recorded it (displayed, EXIF applied)
    height: int
    #: (x0, y0, x1, y1) in project pixels: predict inside this part only (an instance's box)
    crop: tuple[float, float, float, float] | None = None
    instance_id: int | None = None  # the instance the prediction is for (None: the image's first)


@dataclass
class Decoded:
    task: ImageTask
    array: np.ndarray | None  # (h, w, 3) uint8, or None when it could not be read
    error: str | None = None
    #: Array pixels per project pixel (sx, sy); set by :func:`decode` (the whole image's ratio)
    ratio: tuple[float, float] | None = None
    #: Project pixels of the array's (0, 0) corner: (0, 0) unless the task has a crop
    offset: tuple[float, float] = (0.0, 0.0)

    @property
    def scale(self) -> tuple[float, float]:
        """Array pixels per project pixel, (sx, sy)."""
        if self.ratio is not None:
            return self.ratio
        assert self.array is not None
        h, w = self.array.shape[:2]
        return w / self.task.width, h / self.task.height


def crop_array(array: np.ndarray, crop: tuple[float, float, float, float], scale: tuple[float, float]):  # noqa: ANN201
    """``(part, offset)``: the array pixels covering ``crop`` (project pixels, widened to whole
    array pixels) and the project position of the part's corner."""
    sx, sy = scale
    h, w = array.shape[:2]
    x0, y0, x1, y1 = crop
    ax0, ay0 = max(0, math.floor(x0 * sx)), max(0, math.floor(y0 * sy))
    ax1, ay1 = min(w, math.ceil(x1 * sx)), min(h, math.ceil(y1 * sy))
    ax1, ay1 = max(ax1, min(w, ax0 + 2)), max(ay1, min(h, ay0 + 2))
    return np.ascontiguousarray(array[ay0:ay1, ax0:ax1]), (ax0 / sx, ay0 / sy)


def _plausible(n_array: int, n_full: int) -> bool:
    """Whether a decoded side can be the recorded one at some JPEG draft scale (1, 1/2, 1/4, 1/8)."""
    return any(n_array in (math.floor(n_full / k), math.ceil(n_full / k)) for k in (1, 2, 4, 8))


def decode(task: ImageTask, max_side: int | None = DECODE_MAX_SIDE) -> Decoded:
    """Read one image; any failure becomes a per-image reason, never an exception."""
    try:
        array = load_rgb(task.file, max_side=max_side)
    except ImageReadError as exc:
        text = str(exc)
        prefix = f"{task.file}: "
        return Decoded(task, None, text[len(prefix):] if text.startswith(prefix) else text)
    except MemoryError:
        return Decoded(task, None, "not enough memory to decode it")
    h, w = array.shape[:2]
    if h < 2 or w < 2:
        return Decoded(task, None, f"too small to match ({w}x{h} pixels)")
    if not (_plausible(w, task.width) and _plausible(h, task.height)):
        return Decoded(
            task,
            None,
            f"the file changed since it was added: it is now {w}x{h} pixels, the project has "
            f"{task.width}x{task.height} (remove it and add it again)",
        )
    ratio = (w / task.width, h / task.height)
    if task.crop is None:
        return Decoded(task, array, ratio=ratio)
    part, offset = crop_array(array, task.crop, ratio)
    return Decoded(task, part, ratio=ratio, offset=offset)


def prefetched(batches: Iterable[Sequence[ImageTask]], max_side: int | None = DECODE_MAX_SIDE) -> Iterator[list[Decoded]]:
    """Decoded batches; the next batch is read in a background thread while the caller works.

    The images of a batch are decoded in parallel (:func:`labeler.parallel.map_images`).
    Closing the generator early (the run stopped) waits only for the batch being read.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labeler-prefetch")

    def load(batch: Sequence[ImageTask]) -> list[Decoded]:
        return map_images(lambda t: decode(t, max_side), batch)

    try:
        it = iter(batches)
        pending: Future[list[Decoded]] | None = None
        first = next(it, None)
        if first is not None:
            pending = pool.submit(load, first)
        while pending is not None:
            current = pending
            following = next(it, None)
            pending = pool.submit(load, following) if following is not None else None
            yield current.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
