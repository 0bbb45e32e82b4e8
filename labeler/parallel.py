"""One shared pool of threads for per-image host work (JPEG decoding, resizing).

Pillow and OpenCV release the GIL while they decode and resample, so a batch of images is
prepared on several cores at once. At GPU rates (a hundred images per second) one thread
would spend more time preparing an image than the networks spend on it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Threads of the shared pool: the cores, at most 8 (beyond that, memory bandwidth bounds it).
WORKERS = max(1, min(8, os.cpu_count() or 1))



class MemoryBudget:
    """Bytes that concurrent work may hold at once: :meth:`hold` waits while the others hold
    too much. A request larger than the whole budget runs alone (never refused, never deadlocked)."""

    def __init__(self, total: int) -> None:
        self.total = max(1, int(total))
        self._used = 0
        self._cond = threading.Condition()

    @property
    def used(self) -> int:
        return self._used

    @contextmanager
    def hold(self, nbytes: int) -> Iterator[None]:
        n = min(max(0, int(nbytes)), self.total)
        with self._cond:
            while self._used and self._used + n > self.total:
                self._cond.wait()
            self._used += n
        try:
            yield
        finally:
            with self._cond:
                self._used -= n
                self._cond.notify_all()


def _memory_total() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on every platform
        return 8 << 30


#: Image decodes in flight hold at most this much (a quarter of the memory, 512 MB .. 4 GB): eight
#: pool threads decoding 100-megapixel scans at once would otherwise need ~5 GB.
DECODE_BUDGET = MemoryBudget(min(4 << 30, max(512 << 20, _memory_total() // 4)))

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
