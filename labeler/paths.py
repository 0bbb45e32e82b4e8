"""Where the data that ships beside the package lives (model cards, resources)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped_dir(name: str) -> Path:
    # Source checkout / editable install: the folder sits next to the package.
    candidate = _PACKAGE_DIR.parent / name
    if candidate.is_dir():
        return candidate
    # Wheel install: data-files land under <prefix>/share/labeler.
    candidate = Path(sys.prefix) / "share" / "labeler" / name
    if candidate.is_dir():
        return candidate
    raise FileNotFoundError(f"labeler's {name}/ folder was not found next to {_PACKAGE_DIR}")


def models_dir() -> Path:
    return _shipped_dir("models")


def resources_dir() -> Path:
    return _shipped_dir("resources")


def cache_dir() -> Path:
    """Per-user cache (tiny random model, thumbnails). LABELER_CACHE overrides it."""
    env = os.environ.get("LABELER_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "labeler"


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would briefly change it for every thread)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def publish_mode(tmp: str | os.PathLike[str], target: str | os.PathLike[str], *, folder: bool = False) -> None:
    """Give a temporary file (or folder) about to be renamed onto ``target`` the permissions a
    plain ``open()`` would have given it: ``target``'s own when it exists, else 0666 (0777 for a
    folder) less the umask. ``mkstemp``/``mkdtemp`` make private 0600/0700 entries otherwise."""
    try:
        mode = os.stat(target).st_mode & 0o7777
    except OSError:
        mode = (0o777 if folder else 0o666) & ~_umask()
    os.chmod(tmp, mode)
