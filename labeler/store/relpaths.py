"""Image paths relative to the images root: POSIX strings that never leave the root."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path, PurePosixPath

from labeler.display import shown
from labeler.errors import ProjectError, UserInputError


def absolute(path: str | os.PathLike[str]) -> Path:
    """Absolute and normalised, without resolving symlinks (a linked sub-folder stays inside)."""
    return Path(os.path.normpath(os.path.abspath(os.fspath(path))))


def has_drive(rel: str) -> bool:
    """A Windows drive (``C:``, ``C:/x``): a letter, a colon, then nothing or a separator.
    A video frame ``1:05:33.jpg`` or a name ``a:b.jpg`` is a plain relative name."""
    return (
        len(rel) >= 2
        and rel[1] == ":"
        and rel[0].isascii()
        and rel[0].isalpha()
        and (len(rel) == 2 or rel[2] in "/\\" or os.name == "nt")
    )


def escapes(rel: str) -> bool:
    """True when a relative path (either separator) climbs out of its root or is absolute."""
    parts = rel.replace("\\", "/").split("/")
    if rel.startswith(("/", "\\")) or has_drive(rel) or "\x00" in rel:
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


def image_file(root: Path, rel: str, *, row: int | None = None) -> Path:
    """The one place an image's stored path is joined to the images root. A path that would
    leave the root (``../x``, ``/etc/x``, ``C:/x``) is refused, naming the image row: a project
    file from someone else must not make labeler read, show or copy files outside the folder."""
    if not isinstance(rel, str) or not rel or escapes(rel):
        which = f"image {row}" if row is not None else "an image"
        raise ProjectError(
            f"{which} of this project has the path {shown(rel)!r}, which leaves the images folder; "
            "refusing to read it (the project file was altered or damaged)"
        )
    return root.joinpath(*rel.split("/"))


class OutsideImagesFolder(ProjectError):
    """An image's file is (now) a symbolic link, or lies under one, leading outside the images
    folder: it is neither read nor copied."""


def inside(real: str, base: str) -> bool:
    """Whether the real path ``real`` is ``base`` or lies under it (both already resolved)."""
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def real_image_file(root: Path, rel: str, *, row: int | None = None) -> Path:
    """The one place every reader and copier of an image gets its file: the stored path joined
    to the root (:func:`image_file`), then every symbolic link resolved *now*. A file whose real
    path is not inside the real images root is refused (:class:`OutsideImagesFolder`), whenever
    the link was made: a link to a file or a folder outside, a chain of links, relative or
    absolute. The joined path is returned (as the images root spells it: cluster workers that
    mount the shared folder at the same place read it, whatever links the head's path has);
    callers open it right away."""
    joined = image_file(root, rel, row=row)
    real = os.path.realpath(joined)
    if not inside(real, os.path.realpath(root)):
        raise OutsideImagesFolder(
            f"{shown(rel)}: refusing to read it: it leads outside the images folder {root} "
            f"(through a symbolic link, to {shown(real)})"
        )
    return joined


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


def unicode_key(rel: str) -> str:
    """The form two names are compared in: NFC. macOS tools write file names decomposed (NFD),
    most others composed (NFC); the same visible name must find the same image either way."""
    return unicodedata.normalize("NFC", rel)


def find_on_disk(root: Path, rel: str, listings: dict[Path, dict[str, list[str]]] | None = None) -> str | None:
    """``rel`` as it is spelled on disk under ``root``: itself when that file exists, else the one
    file whose name differs only in Unicode normalisation (None when there is none, or several).

    ``listings`` caches folder listings between calls (pass the same dict for many names)."""
    listings = {} if listings is None else listings
    if image_file(root, rel).is_file():
        return rel
    if rel.isascii():
        return None
    here = root
    spelled: list[str] = []
    for part in rel.split("/"):
        if (here / part).exists():
            match = part
        else:
            if here not in listings:
                by_key: dict[str, list[str]] = {}
                try:
                    for n in os.listdir(here):
                        by_key.setdefault(unicode_key(n), []).append(n)
                except OSError:
                    pass
                listings[here] = by_key
            found = listings[here].get(unicode_key(part), [])
            if len(found) != 1:
                return None
            match = found[0]
        spelled.append(match)
        here = here / match
    return "/".join(spelled) if here.is_file() else None
