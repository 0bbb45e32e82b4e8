"""Outputs built beside their target under a hidden name, then swapped in, and the hidden
leftovers of runs that were killed (``kill -9``, a power cut) cleaned up by the next run.

Hidden names carry the host and process id (``.birds.labeler.tmp-HOST-PID.x1y2.tmp``), so a
later run can tell a leftover of a dead process from the work of one still running. A folder
is replaced in one step with Linux's ``renameat2(RENAME_EXCHANGE)``: there is no moment without
the folder. Elsewhere (or on a file system without it) the old folder is first moved aside
(``.NAME.old-HOST-PID.xxxx``) and, should the process die before the new one is in place, the
next run puts it back.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

#: Leftovers of another host (a shared drive) are removed only when older than this.
STALE_AGE_S = 24 * 3600
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _host() -> str:
    return "".join(c for c in socket.gethostname() if c.isalnum())[:32] or "host"


def _tag(kind: str) -> str:
    return f"{kind}-{_host()}-{os.getpid()}."


def temp_file(target: Path, suffix: str = ".tmp") -> Path:
    """A new empty hidden file beside ``target`` (after cleaning up stale ones)."""
    clean_stale(target)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.{_tag('tmp')}", suffix=suffix, dir=target.parent)
    os.close(fd)
    return Path(name)


def temp_dir(target: Path) -> Path:
    """A new empty hidden folder beside ``target`` (after cleaning up stale ones)."""
    clean_stale(target)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.{_tag('tmp')}", dir=target.parent))


def _alive(host: str, pid: int, path: Path) -> bool:
    if host != _host() or os.name != "posix":
        try:
            return time.time() - path.lstat().st_mtime < STALE_AGE_S
        except OSError:
            return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        for side in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{path}{side}")


def clean_stale(target: Path) -> list[Path]:
    """Remove the hidden leftovers of dead runs that wrote ``target``; a folder moved aside by
    a run killed before its replacement was in place is put back first. Returns what went."""
    target = Path(target)
    removed: list[Path] = []
    try:
        names = os.listdir(target.parent)
    except OSError:
        return removed
    head = f".{target.name}."
    for name in sorted(names):
        if not name.startswith(head):
            continue
        kind, _, rest = name[len(head):].partition("-")
        if kind not in ("tmp", "old") or name.endswith(("-journal", "-wal", "-shm")):
            continue
        host, _, rest = rest.partition("-")
        pid_text = rest.split(".", 1)[0]
        if not pid_text.isdigit():
            continue
        path = target.parent / name
        if _alive(host, int(pid_text), path):
            continue
        if kind == "old" and (path / "export").is_dir() and not os.path.lexists(target):
            with contextlib.suppress(OSError):
                os.replace(path / "export", target)  # the earlier output, back where it was
        _remove(path)
        removed.append(path)
    return removed


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux ``renameat2``); False where that is not
    available (another OS, an old kernel or C library, a file system without it)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` where ``out`` is; an earlier ``out`` is deleted only once
    the new one is in place, and at no moment (``exchange``) or never for good (the fallback,
    repaired by :func:`clean_stale`) is there no ``out``."""
    if not os.path.lexists(out):
        os.replace(tmp, out)
        return
    if exchange(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)  # now the earlier output
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.{_tag('old')}", dir=out.parent))
    os.replace(out, aside / "export")
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(aside / "export", out)
        shutil.rmtree(aside, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)
