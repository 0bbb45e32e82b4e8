"""Image paths relative to the images root: POSIX strings that never leave the root."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from labeler.errors import UserInputError


def absolute(path: str | os.PathLike[str]) -> Path:
    """Absolute and normalised, without resolving symlinks (a linked sub-folder stays inside)."""
    return Path(os.path.normpath(os.path.abspath(os.fspath(path))))


def escapes(rel: str) -> bool:
    """True when a relative path (either separator) climbs out of its root or is absolute."""
    parts = rel.replace("\\", "/").split("/")
    if rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        return True
    depth = 0
    for part in parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def relative_to_root(path: str | os.PathLike[str], root: Path) -> str | None:
    """``path`` as a POSIX path under ``root``, or None when it lies outside."""
    for full, base in ((absolute(path), absolute(root)), (Path(os.path.realpath(path)), Path(os.path.realpath(root)))):
        # the second try sees through symlinks (e.g. /tmp and /private/tmp on macOS)
        try:
            rel = os.path.relpath(full, base)
        except ValueError:  # another drive on Windows
            continue
        if rel != "." and not escapes(rel):
            return PurePosixPath(Path(rel).as_posix()).as_posix()
    return None


def normalise_rel(rel: str) -> str:
    """Canonical POSIX form of a path meant to be relative to the root; refuses escapes."""
    if not rel or escapes(rel):
        raise UserInputError(f"image path {rel!r} points outside the images root")
    if os.sep == "\\":
        rel = rel.replace("\\", "/")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    out: list[str] = []
    for part in parts:
        if part == "..":
            out.pop()
        else:
            out.append(part)
    if not out:
        raise UserInputError(f"image path {rel!r} names no file")
    return "/".join(out)
