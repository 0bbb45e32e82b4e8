"""One shared pool of threads for per-image host work (JPEG decoding, resizing).

Pillow and OpenCV release the GIL while they decode and resample, so a batch of images is
prepared on several cores at once. At GPU rates (a hundred images per second) one thread
would spend more time preparing an image than the networks spend on it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Threads of the shared pool: the cores, at most 8 (beyond that, memory bandwidth bounds it).
WORKERS = max(1, min(8, os.cpu_count() or 1))

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="labeler-host")
        return _pool


def map_images(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(x) for x in items]`` in order, on the shared pool when there is more than one item.

    ``fn`` must not itself call :func:`map_images` (the pool would wait on itself).
    """
    items = list(items)
    if len(items) < 2 or WORKERS < 2:
        return [fn(x) for x in items]
    return list(_shared_pool().map(fn, items))
