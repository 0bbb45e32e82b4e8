"""No descriptor this process opens and closes can let another process delete the WAL under it.

POSIX drops all of a process's record locks on a file at the first ``close()`` of any of its
descriptors; SQLite's own locks are such locks. The store's guard (labeler/store/wal_guard.py)
holds open-file-description locks instead, which only its own descriptors can drop. Every
opener below (of every kind, on the project file and its side files) drops this process's
SQLite locks; after each, another process opens and closes the project (what any ``labeler``
command does), and this process's next edit must still be in the file that process sees.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labeler.store import Project
from labeler.store.wal_guard import SHARED_FIRST, SHARED_SIZE, SHM_DMS, WalGuard, ofd_holder, supported

pytestmark = [
    pytest.mark.sqlite_only,
    pytest.mark.skipif(not supported(), reason="open-file-description locks are Linux's"),
]


def _open_close(p: Path) -> None:
    with open(p, "rb") as fh:
        fh.read(64)


def _os_open(p: Path) -> None:
    os.close(os.open(p, os.O_RDONLY))


def _mmap(p: Path) -> None:
    with open(p, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
        m[:16]


def _pil(p: Path) -> None:
    from PIL import Image, UnidentifiedImageError

    with contextlib.suppress(UnidentifiedImageError), Image.open(p):
        pass


def _sqlite_second_connection(p: Path) -> None:
    conn = sqlite3.connect(p)
    with contextlib.suppress(sqlite3.DatabaseError):  # a side file is not a database
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    conn.close()


def _second_project(p: Path) -> None:
    with contextlib.suppress(Exception):  # a side file is not a project
        Project.open(p).close()


def _copy(p: Path) -> None:
    shutil.copyfile(p, f"{p}.copy")
    os.unlink(f"{p}.copy")


def _posix_unlock(p: Path) -> None:
    import fcntl

    fd = os.open(p, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_UN)  # unlocks every byte this process locked
    finally:
        os.close(fd)


OPENERS = {
    "open/close": _open_close,
    "os.open": _os_open,
    "mmap": _mmap,
    "PIL": _pil,
    "sqlite3 connection": _sqlite_second_connection,
    "second Project": _second_project,
    "copy": _copy,
    "POSIX unlock": _posix_unlock,
}
CASES = list(itertools.product(OPENERS, ("", "-wal", "-shm")))

#: Another process, like any ``labeler`` command: opens the project, reads a point, closes it.
TERMINAL = textwrap.dedent(
    """
    import os, sys
    from labeler.store import Project
    path = sys.argv[1]
    for line in sys.stdin:
        image = int(line)
        with Project.open(path) as p:
            row = p.points(image).get("nose")
        print("none" if row is None else row.x, os.path.exists(path + "-wal"), flush=True)
    """
)


def test_no_opener_of_any_kind_lets_another_process_drop_our_wal(project, tmp_path):
    path = project.path
    ids = [i for i, _, _ in project.image_index()]
    project.set_point(ids[0], "nose", 1.0, 1.0)
    terminal = subprocess.Popen([sys.executable, "-c", TERMINAL, str(path)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for n, (kind, side) in enumerate(CASES):
            OPENERS[kind](Path(f"{path}{side}"))
            # this process's own SQLite lock is gone (the hazard is real) but the guard's holds
            assert ofd_holder(path, SHARED_FIRST, SHARED_SIZE) == "read", (kind, side)
            terminal.stdin.write(f"{ids[0]}\n")
            terminal.stdin.flush()
            terminal.stdout.readline()  # it opened and closed the project meanwhile
            x = float(2 + n)
            image = ids[n % len(ids)]
            project.set_point(image, "nose", x, x)  # the edit after the dialog
            terminal.stdin.write(f"{image}\n")
            terminal.stdin.flush()
            seen, wal = terminal.stdout.readline().split()
            assert (seen, wal) == (str(x), "True"), (kind, side, terminal.stderr.read() if not seen else "")
    finally:
        terminal.stdin.close()
        terminal.wait(timeout=60)
    project.close()  # the last one out checkpoints and removes the WAL, as SQLite always did
    assert not os.path.exists(f"{path}-wal") and not os.path.exists(f"{path}-shm")


def test_guard_locks_are_read_locks_on_sqlites_ranges_and_go_with_the_project(project):
    path = project.path
    assert ofd_holder(path, SHARED_FIRST, SHARED_SIZE) == "read"
    assert ofd_holder(f"{path}-shm", SHM_DMS, 1) == "read"
    # readers and writers of other processes are not hindered: a read lock on the same bytes is free
    other = WalGuard(Path(path), wait_s=0)
    assert other.held
    other.close()
    project.close()
    assert not os.path.exists(f"{path}-wal")  # nothing stays locked after close
    with Project.open(path) as again:
        assert again.image_count() > 0


def test_kill_9_releases_the_guard(project, tmp_path):
    """The kernel drops a dead process's OFD locks: the next opener recovers its WAL."""
    path = project.path
    image = project.image_index()[0][0]
    project.close()
    code = textwrap.dedent(
        f"""
        import os, signal
        from labeler.store import Project
        p = Project.open({str(path)!r})
        p.set_point({image}, "nose", 4.0, 5.0)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    subprocess.run([sys.executable, "-c", code], timeout=60)
    assert os.path.exists(f"{path}-wal")
    assert ofd_holder(path, SHARED_FIRST, SHARED_SIZE) == "unlocked"
    with Project.open(path) as after:
        assert after.points(image)["nose"].x == 4.0


def test_writers_of_two_processes_never_overlap_even_after_a_close_of_the_shm(project):
    """SQLite's write lock is a POSIX lock in the -shm: closing any descriptor of the -shm during
    a write transaction drops it. Labeler's own writer lock (an OFD lock) still keeps another
    labeler process from writing at the same time."""
    import time

    from sqlalchemy import text

    path = project.path
    image = project.image_index()[0][0]
    writer = textwrap.dedent(
        f"""
        from labeler.store import Project
        with Project.open({str(path)!r}) as p:
            print("open", flush=True)
            p.set_point({image}, "nose", 7.0, 7.0)
            print("wrote", flush=True)
        """
    )
    with project._write() as s, s.begin():  # a write transaction of this process, held open
        s.execute(text("UPDATE meta SET value = 'held' WHERE key = 'name'"))
        _open_close(Path(f"{path}-shm"))  # SQLite's write lock of this process is gone now
        other = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
        assert other.stdout.readline().strip() == "open"
        time.sleep(1.0)
        assert other.poll() is None  # still waiting for the writer lock
    assert other.stdout.readline().strip() == "wrote"  # once this transaction committed
    other.wait(timeout=60)
    assert project.points(image)["nose"].x == 7.0 and project.meta()["name"] == "held"
