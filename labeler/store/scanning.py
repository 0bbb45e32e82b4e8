"""Finding image files under a folder and probing them (size, orientation, hash) in parallel.

Probing decodes every file (JPEGs at 1/8 scale, which still reads every byte) so truncated
files are caught when they are registered, not when the annotator opens them. Decoding releases
the GIL, so a small thread pool scales with cores.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from labeler.display import MAX_LISTED, listing, shown
from labeler.errors import ImageReadError, UserInputError
from labeler.imaging import IMAGE_SUFFIXES, ImageInfo, is_image_path, probe
from labeler.store.records import SkippedFile


@dataclass(frozen=True)
class ProbedImage:
    rel: str  # POSIX path relative to the images root
    info: ImageInfo


def check_folder(folder: Path) -> None:
    if not folder.exists():
        raise UserInputError(f"image folder {folder} does not exist")
    if not folder.is_dir():
        raise UserInputError(f"{folder} is not a folder")


def _inside(real: str, bases: Iterable[str]) -> bool:
    return any(real == b or real.startswith(b.rstrip(os.sep) + os.sep) for b in bases)


def find_image_files(folder: Path, *, within: Path | None = None, skipped: list[SkippedFile] | None = None) -> list[Path]:
    """Every image file under ``folder`` (recursively, hidden files and folders skipped), sorted
    within each folder. Symbolic links are followed only when they lead to a place inside the
    real images root (``within``, else ``folder``), each real folder once: a link to ``/`` or to
    a private folder in an images folder from someone else is not walked but appended to
    ``skipped`` (paths relative to that root). Reading refuses the same files
    (:func:`labeler.store.relpaths.real_image_file`), so nothing is registered that could not
    be read."""
    check_folder(folder)
    base = within if within is not None else folder
    bases = {os.path.realpath(base)}
    found: list[Path] = []
    seen: set[str] = set()

    def leaves(path: str) -> bool:
        if not os.path.islink(path) or _inside(os.path.realpath(path), bases):
            return False
        if skipped is not None:
            rel = Path(os.path.relpath(path, base)).as_posix()
            skipped.append(SkippedFile(rel, "symbolic link leading outside the images folder (not followed)"))
        return True

    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and os.path.realpath(os.path.join(dirpath, d)) not in seen
            and not leaves(os.path.join(dirpath, d))
        )
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if is_image_path(path) and not path.is_dir() and not leaves(str(path)):
                found.append(path)
    return found


def storable_name(name: str) -> bool:
    """Whether a file name can be stored and shown as text: a name that is not UTF-8 on disk
    comes back from the OS with surrogate escapes, which no database, JSON or terminal takes."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_name(name: str) -> str:
    """The name with its undecodable bytes shown as U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if not storable_name(name) else name


def no_images_message(folder: Path) -> str:
    return f"no images found in {folder} (looked for {', '.join(IMAGE_SUFFIXES)}, in sub-folders too)"


def _reason(path: Path, exc: Exception) -> str:
    message = str(exc)
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def probe_files(
    files: Sequence[tuple[Path, str]],
    *,
    progress: bool | None = None,
    workers: int | None = None,
) -> tuple[list[ProbedImage], list[SkippedFile]]:
    """Probe ``(absolute path, relative path)`` pairs; unreadable files come back as skipped.

    ``progress``: True shows a tqdm bar on stderr, None shows it only on a terminal.
    """
    workers = workers or min(8, os.cpu_count() or 1)

    def one(item: tuple[Path, str]) -> ProbedImage | SkippedFile:
        path, rel = item
        if not storable_name(rel):
            return SkippedFile(printable_name(rel), "its name is not valid UTF-8 text (rename the file)")
        try:
            return ProbedImage(rel=rel, info=probe(path))
        except ImageReadError as exc:
            return SkippedFile(rel, _reason(path, exc))
        except OSError as exc:  # permission denied, vanished while scanning
            return SkippedFile(rel, f"cannot read ({exc.strerror or exc})")

    probed: list[ProbedImage] = []
    skipped: list[SkippedFile] = []
    disable = False if progress else (None if progress is None else True)
    with ThreadPoolExecutor(max_workers=workers) as pool, tqdm(
        total=len(files), desc="reading images", unit="img", disable=disable, leave=False
    ) as bar:
        for result in pool.map(one, files):
            (probed if isinstance(result, ProbedImage) else skipped).append(result)
            bar.update(1)
    return probed, skipped


def format_skipped(skipped: Iterable[SkippedFile]) -> str:
    return listing([f"{shown(s.path)}: {s.reason}" for s in skipped], 2 * MAX_LISTED)
