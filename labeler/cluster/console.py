"""The terminal of a cluster run: labeler's lines only.

Ray's C++ core writes its own log lines (``[2026-12-07 04:30:31,530 E 25115 25187]
task_manager.cc:1545: ...``) straight to file descriptor 2 of the driver, past Python, and keeps
doing so while a head is lost or a worker dies; labeler already says what happened, once and in
words. :func:`ray_lines_to_log` puts a pipe in front of descriptor 2 for the length of a run: a
thread forwards every byte at once (tqdm's ``\\r`` redraws included) except whole lines in Ray's
log format, which go to the log instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

#: Ray's C++ log line: ``[YYYY-MM-DD HH:MM:SS,mmm L PID TID] file.cc:LINE: text``.
RAY_LINE = re.compile(rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [DIWEF] \d+ \d+\] \S+:\d+: ")
#: A partial line longer than this is not waited on.
MAX_PENDING = 1 << 16


def _split(buffer: bytes) -> tuple[list[bytes], bytes]:
    """(complete segments, each with its \\n or \\r, the incomplete rest)."""
    parts = re.split(rb"(?<=[\r\n])", buffer)
    return [p for p in parts[:-1] if p], parts[-1]


def _pump(read_fd: int, write_fd: int) -> None:
    pending = b""
    while True:
        try:
            chunk = os.read(read_fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        segments, pending = _split(pending + chunk)
        # A partial segment that cannot be a Ray line (tqdm's bar, a prompt) goes out now.
        if pending and not (pending.startswith(b"[") and len(pending) < MAX_PENDING):
            segments.append(pending)
            pending = b""
        for segment in segments:
            if RAY_LINE.match(segment):
                log.info("ray: %s", segment.decode("utf-8", "replace").rstrip())
                continue
            try:
                os.write(write_fd, segment)
            except OSError:
                pass
    if pending:
        with contextlib.suppress(OSError):
            os.write(write_fd, pending)
    os.close(read_fd)


@contextlib.contextmanager
def ray_lines_to_log() -> Iterator[None]:
    """For the length of the block, Ray's C++ log lines on descriptor 2 go to the log; the
    rest reaches the terminal unchanged. Python's ``sys.stderr`` is flushed at both ends."""
    import sys

    try:
        real = os.dup(2)
        read_fd, write_fd = os.pipe()
    except OSError:  # no descriptor 2 (a GUI without console): nothing to filter
        yield
        return
    sys.stderr.flush()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    pump = threading.Thread(target=_pump, args=(read_fd, real), name="ray-stderr-filter", daemon=True)
    pump.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(real, 2)  # the pipe's last writer in this process is gone: the pump sees its end
        pump.join(2.0)
        if not pump.is_alive():  # else a child process still holds the pipe: the pump keeps the descriptor
            os.close(real)
