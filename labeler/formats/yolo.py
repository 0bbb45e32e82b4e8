"""Ultralytics YOLO pose datasets: export a project for ``yolo pose train``, import one back.

The layout is what ``ultralytics.data.utils`` reads (``verify_image_label``, ``img2label_paths``,
``check_det_dataset``)::

    OUTDIR/data.yaml                  path, train, val[, test], kpt_shape [K, 3], flip_idx, names, kpt_names
    OUTDIR/images/{train,val}/NAME.jpg
    OUTDIR/labels/{train,val}/NAME.txt  one row per instance: 0 cx cy w h, then x y v per keypoint

Every number is normalised by the image size as displayed (EXIF orientation applied); EXIF-rotated
images are written upright so that Ultralytics, which reads pixels as stored, sees what the
labels describe. ``v`` is COCO's: 2 visible, 1 occluded; a keypoint not labelled or absent is
``0 0 0``. The box is the COCO export's (:func:`labeler.formats.coco.bbox_from_points`) around the
points as written. An image flagged "no object" or whose keypoints are all marked absent gets an
empty label file (a background image, COCO's negative); a skipped image and an image with only
some absent marks are left out (the latter reported). Splits are by image from a seeded hash
of its path, so adding images later never moves the others.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from labeler.display import shown
from labeler.errors import FormatError, UserInputError
from labeler.formats.bounded_yaml import load_yaml
from labeler.formats.coco import (
    CocoFile,
    CocoImage,
    CocoImportReport,
    _category,
    _Problems,
    MAX_OBJECTS_PER_IMAGE,
    ImportedObject,
    bbox_from_points,
    merge_coco_file,
)
from labeler.formats.exchange import (
    IMAGE_MODES,
    PlacedImages,
    Progress,
    StagedFolder,
    check_out_dir,
    confirmed_by_path,
    images_note,
    keep_if_same,
    labelled_images,
    place_image,
    project_name_for,
    read_record,
    refuse_predictions,
    split_of,
    unique_file_names,
    usable_images,
    write_record,
    write_text,
)
from labeler.store import ABSENT, MANUAL, ImportedPoint, OnConflict, Project, Schema

SPLITS = ("train", "val", "test")
DEFAULT_SPLIT_RATIO = (0.8, 0.2, 0.0)
DATA_YAML = "data.yaml"
#: Ultralytics ignores images smaller than this on either side (verify_image_label).
MIN_SIDE = 10
_IMAGE_FORMATS = {"bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm", "heic"}


def _num(v: float) -> str:
    return f"{v:.6f}"


def _at_six(v: float, size: int) -> float:
    """``v`` (pixels) as a label file states it: its fraction of ``size`` to six decimals, read
    back the way the import reads it."""
    return float(_num(v / size)) * size


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of it)."""
    return json.dumps(text, ensure_ascii=False)


# -- export ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class YoloExportReport:
    root: Path
    images: dict[str, int]  # split -> images written
    instances: int
    backgrounds: int  # images with every keypoint absent: empty label file
    points: int  # keypoints written with a position
    renamed: tuple[tuple[str, str], ...]  # (project path, file name in the export)
    left_out: tuple[str, ...]  # images with only some keypoints marked absent and no position
    notes: tuple[str, ...] = field(default_factory=tuple)


def label_row(
    points: list[tuple[float, float, int] | None], width: int, height: int,
    box: tuple[float, float, float, float] | None = None,
) -> str:
    """One instance: ``0 cx cy w h`` then ``x y v`` per keypoint (``0 0 0`` where None); the box is
    the instance's own when it has one (``box``), else derived from the points as below.

    The box is computed from the points as the file states them (six decimals of the image
    size), not from the project's more precise ones: importing the file and exporting again then
    computes the very same box, so the round trip is byte-identical."""
    points = [None if p is None else (_at_six(p[0], width), _at_six(p[1], height), p[2]) for p in points]
    placed = [(p[0], p[1]) for p in points if p is not None]
    x, y, w, h = box if box is not None else bbox_from_points(placed, width, height)
    cells = ["0", _num((x + w / 2) / width), _num((y + h / 2) / height), _num(w / width), _num(h / height)]
    for p in points:
        cells += ["0", "0", "0"] if p is None else [_num(p[0] / width), _num(p[1] / height), str(int(p[2]))]
    return " ".join(cells) + "\n"


def data_yaml(out: Path, category: str, names: tuple[str, ...], flip: tuple[int, ...], splits: dict[str, int]) -> str:
    val = "images/val" if splits.get("val") else "images/train"
    lines = [
        "# Ultralytics YOLO pose dataset written by labeler.",
        "# Train: yolo pose train data=data.yaml model=yolo11n-pose.pt  (path: below is this folder)",
        f"path: {_q(str(out.absolute()))}",
        "train: images/train",
        f"val: {val}",
    ]
    if splits.get("test"):
        lines.append("test: images/test")
    lines += [
        "",
        f"kpt_shape: [{len(names)}, 3]",
        f"flip_idx: [{', '.join(str(i) for i in flip)}]",
        "",
        "names:",
        f"  0: {_q(category)}",
        "",
        "kpt_names:",
        "  0:",
        *[f"    - {_q(n)}" for n in names],
    ]
    return "\n".join(lines) + "\n"


def export_yolo(
    project: Project,
    out: str | os.PathLike[str],
    *,
    split_ratio: tuple[float, ...] = DEFAULT_SPLIT_RATIO,
    seed: int = 0,
    predicted: bool = False,
    images: str = "link",
    overwrite: bool = False,
    category: str | None = None,
    progress: Progress | None = None,
) -> YoloExportReport:
    """Write the project as an Ultralytics pose dataset into the folder ``out`` (new, empty, or an
    earlier labeler export with ``overwrite``)."""
    if images not in IMAGE_MODES:
        raise UserInputError(f"--images must be link or copy, not {images!r}")
    out = Path(out)
    ratio = tuple(split_ratio) + (0.0,) * (len(SPLITS) - len(split_ratio))
    check_out_dir(out, overwrite)
    schema = project.schema()
    items, left_out = labelled_images(project, predicted=predicted)
    if not items:
        raise UserInputError("no image has a confirmed keypoint yet; nothing to export"
                             + ("" if predicted else " (add --predicted to export predictions too)"))
    items, left_out_notes = usable_images(project, items)  # gone or replaced pictures: left out, noted
    names = schema.keypoints
    file_names, renamed = unique_file_names([it.image.path for it in items], key=lambda n: n.rsplit(".", 1)[0].lower())
    split = {it.image.path: split_of(it.image.path, seed, ratio, SPLITS) for it in items}
    notes: list[str] = []
    # tiny projects: the hash may leave train or val empty, and Ultralytics needs images in both
    for wanted, needed in (("train", True), ("val", ratio[1] > 0)):
        if needed and wanted not in split.values() and len(split) > 1:
            counts_now = {s: sum(1 for v in split.values() if v == s) for s in SPLITS}
            donor = max((s for s in SPLITS if s != wanted and counts_now[s] > (1 if s == "train" else 0)),
                        key=lambda s: counts_now[s], default=None)
            if donor is None:
                continue
            moved = max((p for p in split if split[p] == donor),
                        key=lambda p: hashlib.sha256(f"{seed}\0{p}".encode()).digest())
            split[moved] = wanted
            notes.append(f"no image fell into {wanted} by chance; {moved} was put there (Ultralytics needs {wanted} images)")
    if "val" not in split.values():
        notes.append("no val split: data.yaml's val points at the train images")
    counts = {s: sum(1 for v in split.values() if v == s) for s in SPLITS}
    small = [it.image.path for it in items if min(it.image.width, it.image.height) < MIN_SIDE]
    if small:
        notes.append(f"{len(small)} image(s) under {MIN_SIDE} pixels on a side, which Ultralytics ignores: {', '.join(small[:5])}")
    placed = PlacedImages()
    objects = _objects(project, predicted)
    instances = backgrounds = points = 0
    written: dict[str, str] = {}
    category = category or project.category()
    with StagedFolder(out) as tmp:
        for s in SPLITS:
            if counts[s] or s in ("train", "val"):
                (tmp / "images" / s).mkdir(parents=True, exist_ok=True)
                (tmp / "labels" / s).mkdir(parents=True, exist_ok=True)
        for i, it in enumerate(items):
            im = it.image
            name = file_names[im.path]
            s = split[im.path]
            stem = name.rsplit(".", 1)[0] if "." in name else name
            place_image(project.image_path(im), tmp / "images" / s / name, im, images, placed)
            positioned = dict(it.positioned(names))
            several = objects.get(im.id)
            if several:  # several objects (or real boxes): one row per instance with its box
                row = "".join(label_row(pts, im.width, im.height, box) for pts, box in several)
                instances += len(several)
                points += sum(1 for pts, _ in several for p in pts if p is not None)
            elif positioned:
                row = label_row(
                    [(p.x, p.y, p.visibility) if (p := positioned.get(n)) is not None else None for n in names],  # type: ignore[misc]
                    im.width, im.height,
                )
                instances += 1
                points += len(positioned)
            else:
                row = ""
                backgrounds += 1
            write_text(tmp / "labels" / s / f"{stem}.txt", row)
            written[f"images/{s}/{name}"] = im.path
            if progress is not None:
                progress(i + 1, len(items), "writing images and labels")
        write_text(tmp / DATA_YAML, data_yaml(out, category, names, schema.flip_permutation(), counts))
        write_record(tmp, "ultralytics-yolo-pose", project, written,
                     {"seed": seed, "split_ratio": list(ratio), "predicted": predicted})
    if renamed:
        notes.append(f"{len(renamed)} image(s) share a file name with another and were renamed from their folder: "
                     + ", ".join(f"{a} -> {b}" for a, b in renamed[:5]) + (" ..." if len(renamed) > 5 else ""))
    if left_out:
        notes.append(f"{len(left_out)} image(s) with some keypoints marked absent but none placed were left out "
                     "(label a point, or mark every keypoint absent to make it a background image)")
    notes += images_note(placed) + left_out_notes
    return YoloExportReport(out, counts, instances, backgrounds, points, tuple(renamed), tuple(left_out), tuple(notes))


def _objects(project: Project, predicted: bool) -> dict[int, list[tuple[list[tuple[float, float, int] | None], Any]]]:
    """image id -> one ``(points in schema order, box or None)`` per instance with a placed point,
    for images with several such instances or a boxed one (the others keep the one-object path,
    written exactly as before instances existed)."""
    from labeler.store import CONFIRMED_STATUSES, PREDICTED

    names = project.schema().keypoints
    statuses = list(CONFIRMED_STATUSES) + ([PREDICTED] if predicted else [])
    grouped: dict[int, dict[int | None, dict[str, Any]]] = {}
    for r in project.all_points(statuses=statuses):
        if r.visibility > 0 and r.x is not None and r.y is not None:
            grouped.setdefault(r.image_id, {}).setdefault(r.instance_id, {})[r.name] = r
    boxes = {i.id: i.box for i in project.all_instances() if i.box is not None}
    out = {}
    for image_id, by_instance in grouped.items():
        if len(by_instance) < 2 and not any(i in boxes for i in by_instance):
            continue
        out[image_id] = [
            ([(p.x, p.y, p.visibility) if (p := rows.get(n)) is not None else None for n in names], boxes.get(inst))
            for inst, rows in sorted(by_instance.items(), key=lambda kv: kv[0] or 0)
        ]
    return out


# -- reading -----------------------------------------------------------------------------------
def img2label(path: str) -> str:
    """Ultralytics' rule: the last '/images/' becomes '/labels/', the suffix '.txt'."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return sb.join(path.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt"


def displayed_size(path: Path) -> tuple[int, int]:
    """Width and height after EXIF orientation, from the header only."""
    with Image.open(path) as im:
        w, h = im.size
        try:
            orientation = int(im.getexif().get(0x0112, 1) or 1)
        except Exception:  # noqa: BLE001 - corrupt EXIF is harmless
            orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _find_yaml(path: Path) -> tuple[Path | None, Path]:
    """(data.yaml or None, the folder it describes)."""
    if not path.exists():
        raise FormatError(f"{path}: not found")
    if path.is_file():
        if path.suffix.lower() not in (".yaml", ".yml"):
            raise FormatError(f"{path}: give a YOLO dataset folder or its data.yaml")
        return path, path.parent
    if (path / DATA_YAML).is_file():
        return path / DATA_YAML, path
    found = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
    if len(found) == 1:
        return found[0], path
    if len(found) > 1:
        raise FormatError(f"{path}: several YAML files ({', '.join(f.name for f in found)}); give the dataset's one")
    return None, path


def _images_in(entry: Path) -> list[Path]:
    if entry.is_dir():
        return sorted(p for p in entry.rglob("*") if p.suffix[1:].lower() in _IMAGE_FORMATS and p.is_file())
    if entry.is_file() and entry.suffix.lower() == ".txt":
        parent = entry.parent
        lines = [ln.strip() for ln in entry.read_text(encoding="utf-8").splitlines() if ln.strip()]
        return [Path(ln) if os.path.isabs(ln) else (parent / ln) for ln in lines]
    return []


@dataclass
class _Layout:
    root: Path
    split_dirs: list[tuple[str, Path]]  # (split key, folder or list file)
    names: dict[int, tuple[str, ...]]  # keypoint names per class (kpt_names)
    classes: dict[int, str]
    kpt_shape: tuple[int, int] | None
    flip: Any
    notes: list[str]


#: Limits of a data.yaml that labeler reads (far above any real dataset).
MAX_KEYPOINTS = 10_000
#: Characters one number of a label row may take ("-0.123456789012345678e-300" and a space).
MAX_VALUE_CHARS = 32


def _max_label_bytes(k: int | None, ndim: int | None) -> int:
    """The most bytes a label file of :data:`MAX_OBJECTS_PER_IMAGE` rows can hold: class, box and
    K keypoints of ``ndim`` values (without data.yaml, K and ndim at their largest)."""
    return MAX_OBJECTS_PER_IMAGE * ((5 + (ndim or 3) * (k or MAX_KEYPOINTS)) * MAX_VALUE_CHARS + 1)
MAX_CLASSES = 100_000


def _name(value: object) -> str:
    """A class or keypoint name: text and numbers as written, anything else refused (never the
    ``str()`` of an untrusted structure)."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return shown(str(value))
    raise FormatError(f"a name in data.yaml is a {type(value).__name__}, not text")


def _layout(path: Path) -> _Layout:
    yaml_path, folder = _find_yaml(path)
    notes: list[str] = []
    if yaml_path is None:
        images = folder / "images"
        if not images.is_dir():
            raise FormatError(f"{folder}: no data.yaml and no images/ folder; not a YOLO dataset")
        subs = sorted(p for p in images.iterdir() if p.is_dir())
        notes.append("no data.yaml: keypoint names and flip pairs unknown")
        return _Layout(folder, [(p.name, p) for p in subs] or [("images", images)], {}, {0: "object"}, None, None, notes)
    data = load_yaml(yaml_path, "YOLO data.yaml")
    if not isinstance(data, dict):
        raise FormatError(f"{yaml_path}: not a YOLO data.yaml (expected keys such as train, val, kpt_shape, names)")
    given = data.get("path")
    root = folder
    if isinstance(given, str) and given:
        for candidate in (Path(given), folder / given):
            if candidate.is_dir():
                root = candidate
                break
        else:
            notes.append(f"data.yaml's path {shown(given)!r} does not exist here; read the dataset beside data.yaml")
    shape = data.get("kpt_shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
            and 0 < shape[0] <= MAX_KEYPOINTS and shape[1] in (2, 3)):
        raise FormatError(f"{yaml_path}: kpt_shape must be [K, 2] or [K, 3] with K at most {MAX_KEYPOINTS} "
                          f"(got {shown(repr(shape) if isinstance(shape, (int, float, str, type(None))) else type(shape).__name__)}); "
                          "is this a pose dataset?")
    classes_raw = data.get("names")
    nc = data.get("nc")
    if isinstance(classes_raw, dict):
        classes = {int(k): _name(v) for k, v in classes_raw.items() if isinstance(k, int) or (isinstance(k, str) and k.lstrip("-").isdigit() and len(k) < 10)}
    elif isinstance(classes_raw, list):
        classes = {i: _name(v) for i, v in enumerate(classes_raw)}
    elif nc is None or (isinstance(nc, int) and 0 < nc <= MAX_CLASSES):
        classes = {i: f"class_{i}" for i in range(nc or 1)}
    else:
        raise FormatError(f"{yaml_path}: nc must be a number of classes from 1 to {MAX_CLASSES}")
    kn = data.get("kpt_names")  # per class: {0: [...]} or [[...]]; a plain list names every class's
    if isinstance(kn, list) and kn and all(isinstance(n, str) for n in kn):
        kn = {0: kn}
    elif isinstance(kn, list):
        kn = dict(enumerate(kn))
    names: dict[int, tuple[str, ...]] = {}
    for c, listed in (kn.items() if isinstance(kn, dict) else []):
        if isinstance(listed, list) and listed and (isinstance(c, int) or (isinstance(c, str) and c.lstrip("-").isdigit() and len(c) < 10)):
            names[int(c)] = tuple(_name(n) for n in listed)
            if len(listed) != shape[0]:
                raise FormatError(f"{yaml_path}: kpt_names lists {len(listed)} names but kpt_shape says {shape[0]} keypoints")
    splits = []
    for key in SPLITS:
        value = data.get(key)
        for v in value if isinstance(value, list) else [value] if value else []:
            if not isinstance(v, str):
                raise FormatError(f"{yaml_path}: {key} must name folders or list files, not a {type(v).__name__}")
            p = Path(v)
            splits.append((key, p if p.is_absolute() else root / p))
    if not splits:
        raise FormatError(f"{yaml_path}: names no train/val/test images")
    return _Layout(root, splits, names, classes, (shape[0], shape[1]), data.get("flip_idx"), notes)


def import_yolo(
    project: Project,
    path: str | os.PathLike[str],
    *,
    category: str | None = None,
    on_conflict: OnConflict = "error",
    progress: Progress | None = None,
) -> CocoImportReport:
    """Merge a YOLO pose dataset (a folder or its data.yaml): all of it, or on any error nothing."""
    path = Path(path)
    lay = _layout(path)
    problems = _Problems(path)
    # which class is the project's object
    if category is not None:
        wanted = [c for c, n in lay.classes.items() if n == category]
        if not wanted:
            raise FormatError(f"{path}: no class named {category!r} (classes: {', '.join(lay.classes.values())})")
        cls = wanted[0]
    else:
        cls = None
    # the images and their label files
    seen: set[Path] = set()
    pairs: list[tuple[str, Path, Path]] = []
    for key, entry in lay.split_dirs:
        if not entry.exists():
            problems.add(f"{key}: {entry} does not exist")
            continue
        for img in _images_in(entry):
            if img in seen:
                continue
            seen.add(img)
            pairs.append((key, img, Path(img2label(str(img)))))
    problems.raise_if_any("not a readable YOLO dataset")
    referenced = {lb.absolute() for _, _, lb in pairs}
    orphans = []
    for key, entry in lay.split_dirs:
        labels_dir = Path(img2label(str(entry / "x.jpg"))).parent if entry.is_dir() else None
        if labels_dir is not None and labels_dir.is_dir():
            orphans += [p for p in sorted(labels_dir.rglob("*.txt")) if p.absolute() not in referenced]

    project_schema = project.schema()
    k = lay.kpt_shape[0] if lay.kpt_shape else None
    ndim = lay.kpt_shape[1] if lay.kpt_shape else None
    rows_of: dict[Path, list[list[float]]] = {}
    for i, (_, img, lb) in enumerate(pairs):
        if not lb.is_file():
            continue
        where = _shown(lb, lay.root)
        try:
            size = lb.stat().st_size
            if size > _max_label_bytes(k, ndim):  # sized before it is read: text and floats cost ~17x the file
                problems.add(f"{where}: {size} bytes, more than {MAX_OBJECTS_PER_IMAGE} rows of this dataset's "
                             f"numbers can be ({_max_label_bytes(k, ndim)} bytes)")
                continue
            text = lb.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.add(f"{where}: cannot read it ({exc})")
            continue
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append([float(v) for v in line.split()])
            except ValueError:
                problems.add(f"{where} line {n}: not a row of numbers")
        rows_of[lb] = rows
        if progress is not None:
            progress(i + 1, len(pairs), "reading labels")
    problems.raise_if_any("refusing to import")
    if k is None:  # no data.yaml: K from the rows
        widths = {len(r) for rows in rows_of.values() for r in rows}
        if len(widths) > 1:
            raise FormatError(f"{path}: label rows have different lengths ({sorted(widths)}) and there is no data.yaml")
        width = widths.pop() if widths else 0
        if width > 5 and (width - 5) % 3 == 0:
            k, ndim = (width - 5) // 3, 3
        elif width > 5 and (width - 5) % 2 == 0:
            k, ndim = (width - 5) // 2, 2
        else:
            raise FormatError(f"{path}: cannot tell the number of keypoints (rows of {width} numbers, no data.yaml)")
    assert ndim is not None
    notes = list(lay.notes)
    names = lay.names.get(cls or 0) or (next(iter(lay.names.values())) if len(lay.names) == 1 else None)
    if names is None:
        if len(project_schema.keypoints) == k:
            names = project_schema.keypoints
            notes.append(f"the dataset names no keypoints; took the project's {k} keypoints in their order")
        else:
            names = tuple(f"kp{i}" for i in range(k))
            notes.append(f"the dataset names no keypoints; they are called kp0..kp{k - 1}")
    fake = {"categories": [{"id": 0, "name": lay.classes.get(cls or 0, "object"), "keypoints": list(names),
                            **({"flip_idx": lay.flip} if lay.flip is not None else {})}], "annotations": []}
    _, schema = _category(fake, path, None, problems)
    problems.raise_if_any("not a valid YOLO pose dataset")
    if set(names) == set(project_schema.keypoints):  # YOLO has no skeleton: keep the project's
        schema = Schema(schema.keypoints, project_schema.skeleton, schema.flip_pairs)

    refuse_predictions(lay.root, "--yolo")
    record = read_record(lay.root)
    known = {im.path for im in project.list_images()}
    confirmed = confirmed_by_path(project)
    entries: list[CocoImage] = []
    used_classes: set[int] = set()
    other_rows = placed_v0 = no_label = 0
    for n, (key, img, lb) in enumerate(pairs):
        where = _shown(lb, lay.root)
        if lb not in rows_of:
            no_label += 1
            continue
        rows = rows_of[lb]
        for r in rows:
            if len(r) != 5 + k * ndim:
                problems.add(f"{where}: rows need {5 + k * ndim} numbers (class, box, {k} keypoints x {ndim}), found {len(r)}")
                break
        else:
            classes = {int(r[0]) for r in rows}
            used_classes |= classes
            mine = [r for r in rows if cls is None or int(r[0]) == cls]
            other_rows += len(rows) - len(mine)
            if len(mine) > MAX_OBJECTS_PER_IMAGE:
                problems.add(f"{where}: {len(mine)} rows; at most {MAX_OBJECTS_PER_IMAGE} objects per image are imported")
                continue
            export_path = _shown(img, lay.root)
            fallback = _relative_to_split(img, lay.split_dirs, key)
            file_name = project_name_for(img, export_path, record, project, known, fallback=fallback)
            try:
                size = displayed_size(img)
            except Exception as exc:  # noqa: BLE001 - unreadable image: reported, its points too
                problems.add(f"{export_path}: cannot read the image ({exc})")
                continue
            points: dict[str, ImportedPoint] = {}
            had = confirmed.get(file_name, {})
            objects: list[ImportedObject] = []
            if not mine:
                points = {name: ImportedPoint(None, None, ABSENT, MANUAL) for name in names}
            for row_index, row in enumerate(mine):
                vals = row[5:]
                found: dict[str, ImportedPoint] = {}
                for j, name in enumerate(names):
                    x, y = vals[j * ndim], vals[j * ndim + 1]
                    v = vals[j * ndim + 2] if ndim == 3 else (0.0 if (x <= 0 and y <= 0) or x < 0 or y < 0 else 2.0)
                    if v not in (0.0, 1.0, 2.0):
                        problems.add(f"{where} {name}: visibility must be 0, 1 or 2, got {v:g}")
                        continue
                    if v == 0:
                        placed_v0 += int(x != 0 or y != 0)
                        continue
                    # several objects: the first one's points merge with the project's rules
                    found[name] = _at_file_precision(ImportedPoint(x * size[0], y * size[1], int(v), MANUAL),
                                                     had.get(name) if row_index == 0 else None, size)
                if row_index == 0:
                    points = found
                cx, cy, bw, bh = row[1] * size[0], row[2] * size[1], row[3] * size[0], row[4] * size[1]
                objects.append(ImportedObject(found, (cx - bw / 2, cy - bh / 2, bw, bh) if bw > 0 and bh > 0 else None))
            entries.append(CocoImage(coco_id=n, file_name=file_name, width=size[0], height=size[1],
                                     points=points, where=where, objects=tuple(objects) if len(objects) > 1 else ()))
    if len(used_classes) > 1 and cls is None:
        listed = ", ".join(f"{c} ({lay.classes.get(c, '?')!r})" for c in sorted(used_classes))
        raise FormatError(f"{path}: the labels use several classes: {listed}; choose one with --category NAME "
                          "(a project holds one kind of object)")
    problems.raise_if_any("refusing to import")
    if other_rows:
        notes.append(f"ignored {other_rows} row(s) of other classes")
    if placed_v0:
        notes.append(f"{placed_v0} point(s) have visibility 0 but a position; visibility 0 means not labelled, so they were left not labelled")
    if no_label:
        notes.append(f"{no_label} image(s) have no label file (Ultralytics trains on them as background); nothing imported for them")
    parsed = CocoFile(category=lay.classes.get(cls or 0, "object"), schema=schema, images=tuple(entries), notes=tuple(notes),
                      names_category=(cls or 0) in lay.classes)
    report = merge_coco_file(project, parsed, path, on_conflict=on_conflict)
    lost = [(_shown(p, lay.root), "no image for this label file", _count_points(p, k, ndim)) for p in orphans]
    if lost:
        report = CocoImportReport(report.merge, report.matched, report.registered, report.not_imported + tuple(lost), report.notes)
    return report


def _at_file_precision(pt: ImportedPoint, old: Any, size: tuple[int, int]) -> ImportedPoint:
    """Six decimals of the image size is what the file can say: where it says the project's own
    confirmed point, the point is the project's, so importing an export changes nothing."""
    return keep_if_same(pt, old, 5e-7 * size[0] + 1e-9, 5e-7 * size[1] + 1e-9)


def _count_points(label: Path, k: int, ndim: int) -> int:
    try:
        rows = [ln.split() for ln in label.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError):
        return 0
    n = 0
    for r in rows:
        vals = r[5:]
        for j in range(min(k, len(vals) // ndim)):
            try:
                n += int(ndim == 2 or float(vals[j * ndim + 2]) > 0)
            except ValueError:
                pass
    return n


def _shown(p: Path, root: Path) -> str:
    try:
        return p.absolute().relative_to(root.absolute()).as_posix()
    except ValueError:
        return str(p)


def _relative_to_split(img: Path, split_dirs: list[tuple[str, Path]], key: str) -> str:
    """The image's path inside its split folder ('a.jpg', 'sub/a.jpg')."""
    for k2, d in split_dirs:
        if k2 == key and d.is_dir():
            try:
                return img.relative_to(d).as_posix()
            except ValueError:
                continue
    return img.name


__all__ = ["DATA_YAML", "DEFAULT_SPLIT_RATIO", "SPLITS", "YoloExportReport", "data_yaml", "export_yolo",
           "img2label", "import_yolo", "label_row"]
