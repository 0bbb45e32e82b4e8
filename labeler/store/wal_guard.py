"""Keep a project's WAL alive while this process has the project open, whatever else it opens.

SQLite's unix VFS uses POSIX record locks, and POSIX drops *every* record lock a process holds on
a file when the process closes *any* descriptor of that file. A file dialog that sniffs the
``.labeler`` file's type, a thumbnailer, a library reading the header: one ``close()`` and this
process's SQLite locks are gone while its connections go on using the WAL. The next process that
closes the project then takes the lock by which SQLite decides it is the last connection
(``sqlite3WalClose``: an EXCLUSIVE lock on the database file, i.e. a write lock on its SHARED byte
range), checkpoints, and deletes the ``-wal``/``-shm`` this process still writes into; and the next
process to open the ``-shm`` finds its DMS byte unlocked, believes it is the first, and truncates
and rebuilds the index under this process's mapping.

The guard holds two Linux *open-file-description* read locks (``F_OFD_SETLK``) for as long as
the project is open: one on the database file's SHARED range (``0x40000002``, 510 bytes), one on
the ``-shm`` file's DMS byte (offset 128). OFD locks belong to the descriptor the guard opened
itself, not to the process, so nobody else's ``close()`` drops them; they conflict with SQLite's
POSIX locks in every process (this one included), so no connection anywhere can take that
EXCLUSIVE lock or that DMS write lock while a guard exists. Read locks are compatible with
everything else SQLite does in WAL mode (readers, writers, checkpoints), so guards of many
processes coexist. The kernel releases them when the process dies (``kill -9`` included): the
WAL then stays on disk and the next opener recovers it, which is SQLite's normal crash path.

Other systems: Windows's SQLite locks belong to a handle, not a process, so there is nothing to
guard. macOS and the BSDs have no OFD locks: the guard does nothing there (see the README).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import struct
import sys
import threading
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

#: SQLite's unix VFS (os_unix.c, os.h): the lock bytes of the database file ...
PENDING_BYTE = 0x40000000
SHARED_FIRST = PENDING_BYTE + 2
SHARED_SIZE = 510
#: ... and of the ``-shm`` file: 8 WAL locks from offset 120, then the "dead man switch" byte.
SHM_DMS = 120 + 8

#: A byte no SQLite version locks (its locks end at SHARED_FIRST + SHARED_SIZE): labeler's writers
#: hold it exclusively around every write transaction (see :class:`WriteGate`).
WRITER_BYTE = PENDING_BYTE + 1024

#: ``F_OFD_SETLK`` (Linux >= 3.15; Python's fcntl names it from 3.9).
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37 if sys.platform.startswith("linux") else None)
F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36 if sys.platform.startswith("linux") else None)
#: ``struct flock`` on Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid.
_FLOCK = "hhqqi"
_FLOCK_SIZE = (struct.calcsize(_FLOCK) + 7) // 8 * 8


def supported() -> bool:
    """Whether this system has OFD locks (Linux)."""
    return fcntl is not None and F_OFD_SETLK is not None


def _flock(kind: int, start: int, length: int) -> bytes:
    packed = struct.pack(_FLOCK, kind, os.SEEK_SET, start, length, 0)  # l_pid must be 0 for OFD locks
    return packed + b"\0" * (_FLOCK_SIZE - len(packed))


def _ofd_lock(fd: int, kind: int, start: int, length: int) -> None:
    fcntl.fcntl(fd, F_OFD_SETLK, _flock(kind, start, length))


def ofd_holder(path: str | os.PathLike[str], start: int, length: int) -> str:
    """What would stop a write lock on ``[start, start+length)`` of ``path``: ``"unlocked"``,
    ``"read"`` or ``"write"`` (tests and diagnostics)."""
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        got = fcntl.fcntl(fd, F_OFD_GETLK, _flock(fcntl.F_WRLCK, start, length))
    finally:
        os.close(fd)
    kind = struct.unpack(_FLOCK, got[: struct.calcsize(_FLOCK)])[0]
    return {fcntl.F_UNLCK: "unlocked", fcntl.F_RDLCK: "read", fcntl.F_WRLCK: "write"}[kind]


class WalGuard:
    """The two OFD read locks of one open project (see the module docstring). ``release`` gives
    the locks up without closing the descriptors, so that this process's own last connection may
    then checkpoint and remove the WAL; ``close`` closes the descriptors after the connections."""

    def __init__(self, path: Path, *, wait_s: float = 30.0, gate: WriteGate | None = None) -> None:
        self._fds: list[int] = []
        self._gate = gate
        if not supported():
            return
        try:
            self._take(path, "", SHARED_FIRST, SHARED_SIZE, wait_s)
            self._take(path, "-shm", SHM_DMS, 1, wait_s)
            if gate is not None:
                gate.attach(path)
        except BaseException:
            self.close()
            raise

    @property
    def held(self) -> bool:
        return bool(self._fds)

    def _take(self, path: Path, side: str, start: int, length: int, wait_s: float) -> None:
        try:
            fd = os.open(f"{path}{side}", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            if side:
                return  # no -shm: the file is not in WAL mode (a read-only copy); nothing to keep
            raise
        self._fds.append(fd)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                _ofd_lock(fd, fcntl.F_RDLCK, start, length)
                return
            except OSError as exc:
                if exc.errno in (errno.EINVAL, errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    # an old kernel or a file system without OFD locks: SQLite's own locks only
                    os.close(self._fds.pop())
                    return
                # EAGAIN/EACCES: a connection is closing the project this very moment (it holds
                # the EXCLUSIVE lock while it checkpoints); it lets go within milliseconds
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def release(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                _ofd_lock(fd, fcntl.F_UNLCK, 0, 0)

    def close(self) -> None:
        self.release()
        if self._gate is not None:
            self._gate.close()
        while self._fds:
            with contextlib.suppress(OSError):
                os.close(self._fds.pop())


class WriteGate:
    """Labeler's writers, one at a time across processes, however this process's SQLite locks fare.

    SQLite's write lock lives in the ``-shm`` file as a POSIX lock too: a descriptor of the
    ``-shm`` closed by anything in this process *during* a write transaction (a file dialog
    listing "All files" re-reads it while a propagation writes) drops it, and a writer of another
    process could then append to the WAL at the same time. Every write transaction of a labeler
    process therefore also holds an OFD write lock on :data:`WRITER_BYTE` of the project file,
    from its ``BEGIN`` until its connection returns to the pool. Threads of one process share it
    (SQLite orders them itself; OFD locks do not conflict within one descriptor); processes
    wait for it as for SQLite's own lock, up to the busy timeout.
    """

    def __init__(self, wait_s: float) -> None:
        self._wait_s = wait_s
        self._fd: int | None = None
        self._holders = 0
        self._mutex = threading.Lock()

    def attach(self, path: Path) -> None:
        """Start gating (once the file is in WAL mode and the guard holds); a file this process
        may not write to needs no gate."""
        if not supported():
            return
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            self._fd = None

    def enter(self) -> None:
        with self._mutex:
            if self._fd is not None and self._holders == 0:
                deadline = time.monotonic() + self._wait_s
                while True:
                    try:
                        _ofd_lock(self._fd, fcntl.F_WRLCK, WRITER_BYTE, 1)
                        break
                    except OSError as exc:
                        if exc.errno not in (errno.EAGAIN, errno.EACCES):
                            break  # no OFD locks here after all: SQLite's own lock only
                        if time.monotonic() > deadline:
                            raise sqlite3.OperationalError("database is locked") from None
                        time.sleep(0.002)
            self._holders += 1

    def leave(self) -> None:
        with self._mutex:
            self._holders = max(0, self._holders - 1)
            if self._holders == 0 and self._fd is not None:
                with contextlib.suppress(OSError):
                    _ofd_lock(self._fd, fcntl.F_UNLCK, WRITER_BYTE, 1)

    def close(self) -> None:
        with self._mutex:
            fd, self._fd = self._fd, None
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
