"""What the folder formats for trainers (Ultralytics YOLO pose, DeepLabCut) share.

Exporting: which images and points go out (:func:`labelled_images`), a seeded split that does not
move an image when others are added (:func:`split_of`), the output folder built beside its target
and renamed into place, images linked or copied (EXIF-rotated ones re-encoded upright so pixels
and labels agree), and ``labeler_export.json``, which records where every written image came from.

Importing: a written image is matched back to the project's image through that record, its own
path under the images root, a link's target, or its path relative to the split folder; the
labels then go through the COCO import's checks and merge (:func:`labeler.formats.coco.merge_coco_file`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from labeler.errors import FormatError, UserInputError
from labeler.atomic import replace_dir, temp_dir
from labeler.formats.spair import EXPORT_META
from labeler.imaging import load_rgb
from labeler.paths import publish_mode
from labeler.store import (
    ABSENT,
    CONFIRMED_STATUSES,
    FLAG_NO_OBJECT,
    FLAG_SKIP,
    PREDICTED,
    ImageRecord,
    ImportedPoint,
    PointRecord,
    Project,
    relative_to_root,
)

#: ``progress(done, total, text)``, as :mod:`labeler.gui.background` reports it.
Progress = Callable[[int, int, str], None]
IMAGE_MODES = ("link", "copy")
JPEG_QUALITY = 95
_SAFE = re.compile(r"[^\w.-]+", re.UNICODE)


# -- what goes out ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelledImage:
    image: ImageRecord
    points: dict[str, PointRecord]  # the first instance's confirmed (and predicted when asked) rows by name
    #: every instance with rows, first (lowest id) first: (instance name or None, rows by name)
    objects: tuple[tuple[str | None, dict[str, PointRecord]], ...] = ()

    def positioned(self, names: Sequence[str]) -> list[tuple[str, PointRecord]]:
        return [
            (n, p) for n in names
            if (p := self.points.get(n)) is not None and p.visibility != ABSENT and p.x is not None and p.y is not None
        ]

    def all_absent(self, names: Sequence[str]) -> bool:
        return all(n in self.points and self.points[n].visibility == ABSENT for n in names)


def labelled_images(project: Project, *, predicted: bool = False) -> tuple[list[LabelledImage], list[str]]:
    """Images with at least one point with a position, or with every keypoint marked absent (a
    labelled image without the object); and the paths of images left out because they hold only
    some absent marks (a labelling in progress, which must not become a negative example).

    Flags as in the COCO export (:func:`labeler.formats.coco.to_coco`): an image flagged "no
    object" is a negative (background) image whatever points it holds, so it comes with no
    points; an image flagged "skip" is left out."""
    names = project.schema().keypoints
    if not names:
        raise UserInputError("the project has no keypoints yet; nothing to export")
    statuses = list(CONFIRMED_STATUSES) + ([PREDICTED] if predicted else [])
    grouped: dict[int, dict[int | None, dict[str, PointRecord]]] = {}
    for row in project.all_points(statuses=statuses):
        grouped.setdefault(row.image_id, {}).setdefault(row.instance_id, {})[row.name] = row
    names_of = {i.id: i.name for i in project.all_instances()}
    objects_of = {
        image_id: tuple((names_of.get(k), rows) for k, rows in sorted(by.items(), key=lambda kv: kv[0] or 0))
        for image_id, by in grouped.items()
    }
    by_image = {image_id: objs[0][1] for image_id, objs in objects_of.items()}
    out: list[LabelledImage] = []
    left_out: list[str] = []
    for image in project.list_images():
        if image.flag == FLAG_SKIP:
            continue
        if image.flag == FLAG_NO_OBJECT:
            out.append(LabelledImage(image, {}))
            continue
        rows = by_image.get(image.id)
        if not rows:
            continue
        item = LabelledImage(image, rows, objects_of[image.id])
        if item.positioned(names) or item.all_absent(names):
            out.append(item)
        else:
            left_out.append(image.path)
    return out, left_out


def split_of(path: str, seed: int, ratio: Sequence[float], names: Sequence[str]) -> str:
    """The split of one image from a hash of (seed, path): the same image always lands in the same
    split, whatever else is in the project."""
    digest = hashlib.sha256(f"{seed}\0{path}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    total = sum(ratio)
    edge = 0.0
    for name, share in zip(names, ratio, strict=True):
        edge += share / total
        if u < edge:
            return name
    return names[-1]


def parse_ratio(text: str, names: Sequence[str], *, at_least: int = 2) -> tuple[float, ...]:
    """``"0.8,0.2"`` or ``"8:2"`` -> shares for the first len(values) of ``names`` (rest 0)."""
    parts = [p for p in re.split(r"[,:/ ]+", text.strip()) if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if not at_least <= len(values) <= len(names) or any(v < 0 for v in values) or not values[0] > 0:
        example = ",".join(["0.8", "0.2", "0"][: len(names)])
        raise UserInputError(
            f"--split-ratio takes {at_least} to {len(names)} non-negative numbers for {','.join(names)}, "
            f"the first above 0, e.g. {example} (got {text!r})"
        )
    values += [0.0] * (len(names) - len(values))
    return tuple(values)


def unique_file_names(
    paths: Sequence[str], *, key: Callable[[str], str], flatten: bool = True
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """A file name per relative path, equal to its own name unless ``key`` (e.g. the stem, lower
    case) of two names is the same. Then, with ``flatten``, every one of them is named from its
    whole relative path ('nest/a.jpg' -> 'nest__a.jpg'); without, the first (in sorted order)
    keeps its name; '_2', '_3' are added to whatever is still taken. Depends only on the set of
    paths, not their order. Returns the names and the (path, new name) renames."""
    by_key: dict[str, list[str]] = {}
    for p in sorted(paths):
        by_key.setdefault(key(p.rsplit("/", 1)[-1]), []).append(p)
    names: dict[str, str] = {}
    taken: set[str] = set()
    clashing: list[str] = []
    for group in by_key.values():
        keep = [] if len(group) > 1 and flatten else group[:1]
        for p in keep:
            names[p] = p.rsplit("/", 1)[-1]
            taken.add(key(names[p]))
        clashing += [p for p in group if p not in keep]
    renames = []
    for p in sorted(clashing):
        base = _SAFE.sub("_", p.replace("/", "__")) if flatten else p.rsplit("/", 1)[-1]
        stem, dot, suffix = base.rpartition(".")
        stem, suffix = (stem, f".{suffix}") if dot else (base, "")
        name, k = base, 2
        while key(name) in taken:
            name, k = f"{stem}_{k}{suffix}", k + 1
        taken.add(key(name))
        names[p] = name
        renames.append((p, name))
    return names, renames


# -- the output folder ------------------------------------------------------------------------
def check_out_dir(out: Path, overwrite: bool) -> None:
    """A new or empty folder, or (with ``overwrite``) an earlier labeler export: nothing else is
    ever replaced."""
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out}: exists and is not a folder")
    for folder in out.parents:
        if folder.exists() or folder.is_symlink():
            if not folder.is_dir():
                raise UserInputError(f"cannot create {out}: {folder} is a file, not a folder")
            break
    if out.is_dir() and any(out.iterdir()):
        ours = (out / EXPORT_META).is_file()
        if not overwrite:
            again = " or add --overwrite to replace this earlier export" if ours else ""
            raise UserInputError(f"{out}: folder is not empty; choose a new folder{again} (nothing was written)")
        if not ours:
            raise UserInputError(f"{out}: not an earlier labeler export (no {EXPORT_META}); refusing to replace it")


class StagedFolder:
    """The export is written into a hidden folder beside ``out`` and renamed onto it at the end,
    so a failure (or a full disk) leaves the old export, or nothing, never half of one."""

    def __init__(self, out: Path) -> None:
        self.out = out
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = temp_dir(out)
        except OSError as exc:
            raise UserInputError(f"cannot create {out}: {exc.strerror or exc} ({exc.filename or out.parent})") from None

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: object) -> None:
        if et is None:
            try:
                publish_mode(self.tmp, self.out, folder=True)
                replace_dir(self.tmp, self.out)
                return
            except OSError as exc:
                shutil.rmtree(self.tmp, ignore_errors=True)
                raise UserInputError(f"cannot write {self.out}: {exc.strerror or exc}") from None
        shutil.rmtree(self.tmp, ignore_errors=True)
        if isinstance(ev, OSError):
            raise UserInputError(f"cannot write {self.out}: {ev.strerror or ev} ({ev.filename or self.out})") from None


@dataclass
class PlacedImages:
    linked: int = 0
    copied: int = 0
    upright: int = 0  # EXIF-rotated images written upright
    fell_back: int = 0  # links the file system refused, copied instead


def usable_images(project: Project, items: list[LabelledImage]) -> tuple[list[LabelledImage], list[str]]:
    """The items whose picture is the one labelled, and notes naming those left out: files gone
    (moved, deleted, or now a link leading outside the images folder) and files that now hold
    another picture (the labels would land on other pixels). One check for every export that
    writes pictures beside labels: :meth:`~labeler.store.Project.check_files`. What is left out
    is listed, not a reason to write nothing."""
    found = project.check_files([it.image.id for it in items])
    gone = {r.id for r in found.missing}
    replaced = {r.id for r in found.changed}
    here = [it for it in items if it.image.id not in gone and it.image.id not in replaced]
    if items and not [it for it in items if it.image.id not in gone]:
        raise UserInputError(
            f"none of the {len(items)} labelled images is on disk under {project.images_root}; "
            "locate the images folder (File > Locate images folder, or `labeler add-images --images-root`)"
        )
    notes = missing_note([it.image.path for it in items if it.image.id in gone])
    notes += replaced_note([it.image.path for it in items if it.image.id in replaced and it.image.id not in gone])
    return here, notes


def replaced_note(paths: list[str]) -> list[str]:
    if not paths:
        return []
    shown = ", ".join(paths[:5]) + (" ..." if len(paths) > 5 else "")
    return [f"{len(paths)} labelled image(s) were left out: the file now holds another picture than the one labelled: {shown}"]


def missing_note(missing: list[str]) -> list[str]:
    if not missing:
        return []
    shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
    return [f"{len(missing)} labelled image(s) are missing on disk and were left out: {shown}"]


def place_image(src: Path, dst: Path, image: ImageRecord, mode: str, counts: PlacedImages) -> None:
    """Link or copy ``src`` to ``dst``; an image whose EXIF orientation is not 1 is decoded as
    displayed and saved upright without the tag (trainers disagree on applying it)."""
    if not src.is_file():
        raise UserInputError(f"{src}: image not found (moved or deleted?); run `labeler add-images` or locate the images folder")
    if image.orientation not in (0, 1):
        rgb = load_rgb(src)
        if (rgb.shape[1], rgb.shape[0]) != (image.width, image.height):
            raise FormatError(f"{src}: image is {rgb.shape[1]}x{rgb.shape[0]} but its labels were made on {image.width}x{image.height}")
        fmt = Image.registered_extensions().get(dst.suffix.lower(), "PNG")
        extra = {"quality": JPEG_QUALITY} if fmt in ("JPEG", "WEBP") else {}
        Image.fromarray(rgb).save(dst, format=fmt, **extra)
        counts.upright += 1
        return
    if mode == "link":
        try:
            os.symlink(src.resolve(), dst)
            counts.linked += 1
            return
        except (OSError, NotImplementedError):
            counts.fell_back += 1
    shutil.copyfile(src, dst)
    counts.copied += 1


def images_note(counts: PlacedImages) -> list[str]:
    notes = []
    if counts.upright:
        notes.append(f"{counts.upright} EXIF-rotated image(s) were written upright (re-encoded) so pixels and labels agree")
    if counts.fell_back:
        notes.append(f"{counts.fell_back} image(s) were copied: the file system refused links")
    return notes


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def write_record(folder: Path, fmt: str, project: Project, written: dict[str, str], extra: dict[str, Any]) -> None:
    """``labeler_export.json``: the format, and for every written image (its path in the export)
    the project path it came from, so that importing finds the original image again."""
    data = {"format": fmt, "generator": "labeler", "project": project.name, **extra,
            "images": dict(sorted(written.items()))}
    write_text(folder / EXPORT_META, json.dumps(data, ensure_ascii=False, indent=1) + "\n")


def _record_data(folder: Path) -> dict[str, Any]:
    path = folder / EXPORT_META
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def refuse_predictions(folder: Path, flag: str) -> None:
    """An export written with --predicted holds predictions nobody reviewed; these formats have no
    status, so importing it would turn them into confirmed labels. Refused, saying what to do."""
    if _record_data(folder).get("predicted") is True:
        raise UserInputError(
            f"{folder} was exported with --predicted: it holds predictions awaiting review, and this "
            "format cannot tell them from labels, so importing it would confirm them all; "
            f"export again without --predicted and import that ({flag})"
        )


def read_record(folder: Path) -> dict[str, str]:
    """Export path -> original project path, from an earlier export's record (empty if none)."""
    data = _record_data(folder)
    images = data.get("images")
    if not isinstance(images, dict):
        return {}
    return {k: v for k, v in images.items() if isinstance(k, str) and isinstance(v, str)}


# -- importing --------------------------------------------------------------------------------
def project_name_for(file: Path, export_path: str, record: dict[str, str], project: Project,
                     known: set[str], *, fallback: str) -> str:
    """The name under which the COCO merge looks the image up: the recorded original path when
    the project has it (or it exists under the root); the file's own path under the root,
    directly or through a link; else ``fallback`` (its path inside the dataset, which the merge
    resolves against the root or reports as not found)."""
    root = project.images_root
    original = record.get(export_path)
    if original and (original in known or root.joinpath(*original.split("/")).is_file()):
        return original
    for candidate in (file, file.resolve() if file.is_symlink() else None):
        if candidate is None:
            continue
        rel = relative_to_root(str(candidate.absolute()), root)
        if rel:
            return rel
    return fallback


def keep_if_same(pt: ImportedPoint, old: PointRecord | None, tol_x: float, tol_y: float, *,
                 any_visibility: bool = False) -> ImportedPoint:
    """The project's confirmed point in place of ``pt`` when the file says the same thing as far
    as the format can say it (position within the file's precision; visibility, unless the format
    has none; formats without statuses cannot disagree on them), so re-importing is a no-op."""
    if old is None or old.x is None or old.y is None or old.status == PREDICTED or pt.x is None or pt.y is None:
        return pt
    if not any_visibility and old.visibility != pt.visibility:
        return pt
    if abs(old.x - pt.x) <= tol_x and abs(old.y - pt.y) <= tol_y:
        return ImportedPoint(old.x, old.y, old.visibility, old.status)
    return pt


def confirmed_by_path(project: Project) -> dict[str, dict[str, PointRecord]]:
    """Every confirmed point of the project, by image path and keypoint name (one query)."""
    paths = {im.id: im.path for im in project.list_images()}
    out: dict[str, dict[str, PointRecord]] = {}
    for row in project.all_points(statuses=CONFIRMED_STATUSES):
        out.setdefault(paths[row.image_id], {})[row.name] = row
    return out
