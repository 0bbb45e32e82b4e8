"""Decoding images off the UI thread.

:class:`ImageLoader` serves the canvas: one background thread, latest request wins (paging fast
through a folder never queues stale decodes: a request replaces the one still waiting), a small
byte-bounded cache, and neighbours prefetched while the annotator looks at the current image.
:class:`ThumbnailLoader` serves the image list: newest request first, old requests dropped when
the user has scrolled past them, a bounded cache of small images.

Decoding goes through :func:`labeler.imaging.load_rgb` (EXIF orientation applied exactly as the
store and the engines see it); Qt never re-applies orientation.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QImage

from labeler.errors import LabelerError
from labeler.imaging import load_rgb

log = logging.getLogger(__name__)

Job = tuple[int, Path]  # (image id, absolute path)
Stamp = tuple[int, int]  # (mtime ns, size): a cached decode is valid while the file keeps it


def file_stamp(path: Path) -> Stamp | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def to_qimage(rgb: np.ndarray) -> QImage:
    """``(H, W, 3) uint8`` -> a QImage that owns its pixels, in the format QPixmap uses directly."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    view = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return view.convertToFormat(QImage.Format.Format_RGB32)  # a deep copy: rgb may go


def decode_full(path: Path) -> QImage:
    return to_qimage(load_rgb(path))


#: Images above this many pixels are shown first as a quick preview (long side PREVIEW_SIDE,
#: JPEGs decoded at reduced scale), then at full resolution: an 8000x6000 JPEG takes ~3.5 s to
#: decode in full, its preview ~0.3 s.
PREVIEW_PIXELS = 16_000_000
PREVIEW_SIDE = 2048


def decode_preview(path: Path) -> QImage | None:
    """A screen-sized decode of a very large image, or None when the image is not that large."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception:  # noqa: BLE001 - the full decode reports why
        return None
    if w * h <= PREVIEW_PIXELS:
        return None
    rgb = load_rgb(path, max_side=PREVIEW_SIDE)
    if max(rgb.shape[:2]) > PREVIEW_SIDE:  # not a JPEG (no reduced decode): shrink it here
        im = Image.fromarray(rgb)
        im.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.BILINEAR)
        rgb = np.asarray(im)
    return to_qimage(rgb)


def decode_thumbnail(path: Path, size: int) -> QImage:
    rgb = load_rgb(path, max_side=size * 2)
    im = Image.fromarray(rgb)
    im.thumbnail((size, size), Image.Resampling.BILINEAR)
    return to_qimage(np.asarray(im))


def _failure_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LabelerError) else f"cannot show this image ({type(exc).__name__}: {exc})"


class ImageLoader(QObject):
    """Full-size decodes for the canvas. Signals carry the ticket :meth:`request` returned;
    a receiver ignores tickets other than its latest."""

    loaded = pyqtSignal(int, int, QImage)  # ticket, image id, image
    failed = pyqtSignal(int, int, str)  # ticket, image id, message for the user

    def __init__(
        self,
        *,
        cache_bytes: int = 512 * 1024 * 1024,
        decode: Callable[[Path], QImage] = decode_full,
        preview: Callable[[Path], QImage | None] | None = decode_preview,
    ) -> None:
        super().__init__()
        self._decode = decode
        self._preview = preview
        self._cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple[int, str], tuple[Stamp, QImage]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cond = threading.Condition()
        self._wanted: tuple[int, int, Path] | None = None  # ticket, id, path
        self._prefetch: deque[Job] = deque()
        self._ticket = 0
        self._stopped = False
        self.decoded: list[int] = []  # image ids in decode order (tests, diagnostics)
        self._thread = threading.Thread(target=self._loop, name="labeler-image-loader", daemon=True)
        self._thread.start()

    # -- UI thread -----------------------------------------------------------------------------
    def cached(self, image_id: int, path: Path) -> QImage | None:
        """The decoded image if the file is unchanged since it was decoded (one stat)."""
        stamp = file_stamp(Path(path))
        with self._cache_lock:
            key = (image_id, str(path))
            entry = self._cache.get(key)
            if entry is None:
                return None
            if entry[0] != stamp:  # changed or gone: decode again (or report why not)
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return entry[1]

    def request(self, image_id: int, path: Path, prefetch: Sequence[Job] = ()) -> int:
        """Decode ``path`` next (dropping any request still waiting); then the ``prefetch`` ones."""
        with self._cond:
            self._ticket += 1
            self._wanted = (self._ticket, image_id, Path(path))
            self._prefetch = deque((i, Path(p)) for i, p in prefetch)
            self._cond.notify()
            return self._ticket

    def prefetch(self, jobs: Sequence[Job]) -> None:
        with self._cond:
            self._prefetch = deque((i, Path(p)) for i, p in jobs)
            self._cond.notify()

    def forget(self, image_id: int | None = None) -> None:
        """Drop cached decodes (of one image, or all): the file may have changed."""
        with self._cache_lock:
            for key in [k for k in self._cache if image_id is None or k[0] == image_id]:
                del self._cache[key]

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopped = True
            self._wanted = None
            self._prefetch.clear()
            self._cond.notify()
        self._thread.join(timeout)

    # -- loader thread -------------------------------------------------------------------------
    def _store(self, key: tuple[int, str], stamp: Stamp, img: QImage) -> None:
        with self._cache_lock:
            self._cache[key] = (stamp, img)
            self._cache.move_to_end(key)
            total = sum(i.sizeInBytes() for _, i in self._cache.values())
            while total > self._cache_bytes and len(self._cache) > 1:
                _, (_, old) = self._cache.popitem(last=False)
                total -= old.sizeInBytes()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and self._wanted is None and not self._prefetch:
                    self._cond.wait()
                if self._stopped:
                    return
                if self._wanted is not None:
                    ticket, image_id, path = self._wanted
                    self._wanted = None
                else:
                    ticket = 0  # prefetch: nobody waits for it
                    image_id, path = self._prefetch.popleft()
            key = (image_id, str(path))
            img = self.cached(image_id, path)
            if img is None:
                stamp = file_stamp(path)
                try:
                    if ticket and self._preview is not None:
                        quick = self._preview(path)
                        if quick is not None and not self._stopped:
                            self.loaded.emit(ticket, image_id, quick)
                            with self._cond:
                                if self._wanted is not None:  # paged on meanwhile: skip the full decode
                                    continue
                    img = self._decode(path)
                except Exception as exc:  # noqa: BLE001 - shown as a placeholder, never a crash
                    if ticket and not self._stopped:
                        self.failed.emit(ticket, image_id, _failure_text(exc))
                    continue
                self.decoded.append(image_id)
                if stamp is not None:
                    self._store(key, stamp, img)
            if ticket and not self._stopped:
                self.loaded.emit(ticket, image_id, img)


class ThumbnailLoader(QObject):
    """Small images for the list, newest request first; ``ready(image_id)`` when one is in."""

    ready = pyqtSignal(int)

    def __init__(
        self,
        *,
        size: int = 56,
        threads: int = 1,
        max_pending: int = 200,
        max_cached: int = 6000,
        decode: Callable[[Path, int], QImage] = decode_thumbnail,
    ) -> None:
        super().__init__()
        self.size = size
        self._decode = decode
        self._max_pending = max_pending
        self._max_cached = max_cached
        self._cache: OrderedDict[int, QImage | None] = OrderedDict()  # None: cannot be read
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._pending: OrderedDict[int, Path] = OrderedDict()  # newest last
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._loop, name=f"labeler-thumbnails-{i}", daemon=True) for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def get(self, image_id: int) -> QImage | None | bool:
        """The thumbnail; None if it cannot be read; False if not decoded yet."""
        with self._lock:
            if image_id in self._cache:
                self._cache.move_to_end(image_id)
                return self._cache[image_id]
        return False

    def request(self, image_id: int, path: Path) -> None:
        with self._cond:
            if image_id in self._cache:
                return
            self._pending.pop(image_id, None)
            self._pending[image_id] = Path(path)
            while len(self._pending) > self._max_pending:
                self._pending.popitem(last=False)  # scrolled past long ago
            self._cond.notify()

    def clear(self) -> None:
        with self._cond:
            self._pending.clear()
            self._cache.clear()

    def forget(self, image_id: int) -> None:
        """Drop one thumbnail (its file changed or is gone): it is decoded again when drawn."""
        with self._cond:
            self._cache.pop(image_id, None)
            self._pending.pop(image_id, None)

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopped = True
            self._pending.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and not self._pending:
                    self._cond.wait()
                if self._stopped:
                    return
                image_id, path = self._pending.popitem(last=True)
            try:
                img: QImage | None = self._decode(path, self.size)
            except Exception:  # noqa: BLE001 - a missing or broken file gets a placeholder
                img = None
            with self._cond:
                if self._stopped:
                    return
                self._cache[image_id] = img
                while len(self._cache) > self._max_cached:
                    self._cache.popitem(last=False)
            self.ready.emit(image_id)
