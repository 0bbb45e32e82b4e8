"""COCO keypoint JSON: export a project, merge a file into one.

What we write is exactly what pycocotools reads: one category (the schema) with its keypoint
names, a 1-based ``skeleton`` and a ``flip_idx`` (0-based: entry i is the index of keypoint i's
left/right counterpart, i itself when unpaired, as Ultralytics uses it); one annotation per
image with ``keypoints`` ``[x, y, v] * K``, ``num_keypoints`` (count of v > 0), ``bbox``,
``area`` and ``iscrowd`` 0. Unlabelled and absent keypoints are both written ``0, 0, 0``.

Beside the COCO fields each annotation carries ``keypoint_status`` (K strings: manual, accepted,
corrected, predicted, or "unlabeled" where there is no row), so that an absent point (a person
said "not in the image") survives a round trip; with ``predicted=True`` predictions are
exported too and ``keypoint_scores`` (K floats) holds their confidence (1.0 for manual points,
0.0 where there is no row or no confidence).

Several objects per image: one annotation per instance that has points, each with its own
``bbox`` (the instance's box when it has one, else the points' box as above), ``area`` and
``num_keypoints``; an instance's name is written as ``instance_name`` and the source of a real
box as ``box_source``. Annotation ids are the image's COCO id while every image has at most one
annotation (so a one-object project is written exactly as before), else 1..N. Importing a file
with several annotations of the category on an image makes one instance per annotation, with
its ``bbox`` as an imported box (except in labeler's own files, whose annotations carry
``keypoint_status``: there a bbox without ``box_source`` is the points' box of an object that had
none, and it stays without one, so export -> import -> export is byte-identical); a single
annotation's bbox becomes a box only when the file says it was one (``box_source``), so one-object
files import exactly as before.

Importing maps ``file_name`` to the project's image by its path relative to the images root.
Names that point outside the root are refused. Images the project does not know are registered
when the file exists under the root (and is readable); the others are reported with the number
of points that could not be imported.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labeler.atomic import temp_file
from labeler.display import listing
from labeler.formats.jsonfile import load_json
from labeler.errors import FormatError, UserInputError
from labeler.paths import publish_mode
from labeler.store import (
    ABSENT,
    CONFIRMED_STATUSES,
    FLAG_NO_OBJECT,
    FLAG_SKIP,
    IMAGE_FLAGS,
    MANUAL,
    POINT_STATUSES,
    PREDICTED,
    BOX_SOURCES,
    ImportedPoint,
    InstanceRecord,
    MergeReport,
    OnConflict,
    OutsideImagesFolder,
    PointRecord,
    Project,
    Schema,
    escapes,
    find_on_disk,
    image_file,
    normalise_rel,
    probe_files,
    real_image_file,
    relative_to_root,
    unicode_key,
)

#: keypoint_status value for a keypoint without a row.
UNLABELED = "unlabeled"
#: The bbox is the tight box of the labelled points, grown on every side by this fraction of
#: its longer side plus BBOX_MIN_PADDING pixels, then clipped to the image.
BBOX_PADDING = 0.1
BBOX_MIN_PADDING = 2.0
_MAX_LISTED = 10
#: The most objects an imported image may hold (a crowded COCO image has a few dozen); more is
#: refused as a whole rather than turned into thousands of instances.
MAX_OBJECTS_PER_IMAGE = 500


# -- export ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CocoExportReport:
    path: Path
    images: int
    annotations: int
    visible_or_occluded: int  # points written with v > 0
    absent: int
    predicted: int
    no_object: int = 0  # images flagged "no object": listed in images, with no annotation
    skipped: int = 0  # images flagged "skip": left out
    #: images whose file now holds another picture: written as they are (COCO writes only labels), named
    replaced: tuple[str, ...] = ()


def bbox_from_points(xy: Sequence[tuple[float, float]], width: int, height: int) -> list[float]:
    """``[x, y, w, h]`` around the points (see BBOX_PADDING); all zeros without points."""
    if not xy:
        return [0.0, 0.0, 0.0, 0.0]
    xs = [p[0] for p in xy]
    ys = [p[1] for p in xy]
    pad = BBOX_PADDING * max(max(xs) - min(xs), max(ys) - min(ys)) + BBOX_MIN_PADDING
    x0, y0 = max(0.0, min(xs) - pad), max(0.0, min(ys) - pad)
    x1, y1 = min(float(width), max(xs) + pad), min(float(height), max(ys) + pad)
    return [round(x0, 3), round(y0, 3), round(x1 - x0, 3), round(y1 - y0, 3)]


def _score(row: PointRecord | None) -> float:
    if row is None:
        return 0.0
    if row.confidence is not None:
        return float(row.confidence)
    return 1.0 if row.status == MANUAL else 0.0


def _annotation(
    rows: dict[str, PointRecord], inst: InstanceRecord | None, names: Sequence[str], width: int, height: int,
    coco_id: int, ann_id: int, *, predicted: bool, annotators: bool,
) -> dict[str, Any]:
    """One instance's annotation (see the module docs)."""
    keypoints: list[float | int] = []
    status: list[str] = []
    scores: list[float] = []
    who: list[str | None] = []
    labelled: list[tuple[float, float]] = []
    for name in names:
        row = rows.get(name)
        if row is None or row.visibility == ABSENT or row.x is None or row.y is None:
            keypoints += [0, 0, 0]
        else:
            keypoints += [row.x, row.y, row.visibility]
            labelled.append((row.x, row.y))
        status.append(UNLABELED if row is None else row.status)
        scores.append(_score(row))
        who.append(None if row is None or not row.confirmed else row.annotator)
    if inst is not None and inst.box is not None:
        bbox = [round(v, 3) for v in inst.box]
    else:
        bbox = bbox_from_points(labelled, width, height)
    annotation: dict[str, Any] = {
        "id": ann_id,
        "image_id": coco_id,
        "category_id": 1,
        "keypoints": keypoints,
        "num_keypoints": len(labelled),
        "bbox": bbox,
        "area": round(bbox[2] * bbox[3], 3),
        "iscrowd": 0,
        "keypoint_status": status,
    }
    if predicted:
        annotation["keypoint_scores"] = scores
    if annotators:
        annotation["keypoint_annotators"] = who
    if inst is not None and inst.box is not None:
        annotation["box_source"] = inst.box_source
    if inst is not None and inst.name:
        annotation["instance_name"] = inst.name
    return annotation


def to_coco(
    project: Project, *, predicted: bool = False, category: str | None = None, annotators: bool = False
) -> dict[str, Any]:
    """The project as a COCO keypoint dataset (confirmed points; predictions too if asked;
    with ``annotators`` each annotation lists who confirmed each point, null where nobody).

    An image flagged "no object" is written as COCO writes a negative: in ``images``, with no
    annotation (its points, if any, are not written); an image flagged "skip" is left out. A
    flagged image's entry in ``images`` says its flag (:data:`FLAG_KEY`), which the import takes
    back. The category is ``category``, else :meth:`Project.category` (the imported file's)."""
    schema = project.schema()
    names = schema.keypoints
    if not names:
        raise UserInputError("the project has no keypoints yet; nothing to export")
    statuses = list(CONFIRMED_STATUSES) + ([PREDICTED] if predicted else [])
    project.check_positions(statuses=statuses)
    by_instance: dict[int, dict[int | None, dict[str, PointRecord]]] = {}
    for row in project.all_points(statuses=statuses):
        by_instance.setdefault(row.image_id, {}).setdefault(row.instance_id, {})[row.name] = row
    instances = {i.id: i for i in project.all_instances()}
    several = any(len(v) > 1 for v in by_instance.values())
    category_name = category or project.category()
    images_out: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image in project.list_images():
        if image.flag == FLAG_SKIP:
            continue
        if image.flag == FLAG_NO_OBJECT:
            images_out.append({"id": len(images_out) + 1, "file_name": image.path, "width": image.width,
                               "height": image.height, FLAG_KEY: image.flag})
            continue
        objects = by_instance.get(image.id)
        if not objects:
            continue
        coco_id = len(images_out) + 1
        images_out.append({"id": coco_id, "file_name": image.path, "width": image.width, "height": image.height,
                           **({FLAG_KEY: image.flag} if image.flag else {})})
        for instance_id in sorted(objects, key=lambda i: -1 if i is None else i):
            inst = instances.get(instance_id) if instance_id is not None else None
            annotations.append(_annotation(
                objects[instance_id], inst, names, image.width, image.height, coco_id,
                len(annotations) + 1 if several else coco_id, predicted=predicted, annotators=annotators,
            ))
    index = {n: i for i, n in enumerate(names)}
    return {
        "info": {"description": f"{category_name} keypoints", "contributor": "labeler"},
        "licenses": [],
        "images": images_out,
        "annotations": annotations,
        "categories": [
            {
                "id": 1,
                "name": category_name,
                "supercategory": category_name,
                "keypoints": list(names),
                "skeleton": [[index[a] + 1, index[b] + 1] for a, b in schema.skeleton],
                "flip_idx": list(schema.flip_permutation()),
            }
        ],
    }


def _check_replaceable(out: Path) -> None:
    """Only a JSON file (or an empty one) may be replaced: a mistyped target must never destroy a
    project or an image."""
    if not out.is_file():
        return
    try:
        with open(out, "rb") as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError as exc:
        raise UserInputError(f"cannot write {out}: {exc.strerror or exc}") from None
    if head and head[:1] not in (b"{", b"["):
        raise UserInputError(
            f"{out} exists and is not a JSON file; refusing to replace it (choose another name, or delete it first)"
        )


def write_json_atomically(data: Any, out: Path) -> None:
    """Write to a temporary file beside ``out`` and rename it: a crash never leaves half a file."""
    out = Path(out)
    if out.is_dir():
        raise UserInputError(f"cannot write {out}: it is a folder; give a file name such as {out / 'labels.json'}")
    if not out.parent.is_dir():
        raise UserInputError(f"cannot write {out}: folder {out.parent} does not exist")
    _check_replaceable(out)
    tmp = ""
    try:
        tmp = str(temp_file(out))
        with open(tmp, "w", encoding="utf-8") as fh:
            # ASCII escapes keep the file readable by tools that open it with the locale's encoding.
            json.dump(data, fh, ensure_ascii=True, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        publish_mode(tmp, out)
        os.replace(tmp, out)
    except OSError as exc:
        raise UserInputError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def export_coco(
    project: Project,
    out: str | os.PathLike[str],
    *,
    predicted: bool = False,
    category: str | None = None,
    annotators: bool = False,
) -> CocoExportReport:
    out_path = Path(out)
    if project.is_own_file(out_path):
        raise UserInputError(f"{out_path} is the project file; give the COCO file another name, e.g. labels.json")
    replaced = tuple(r.path for r in project.check_files().changed)  # the one check of every export
    data = to_coco(project, predicted=predicted, category=category, annotators=annotators)
    write_json_atomically(data, out_path)
    flags = list(project.image_flags().values())
    statuses = [s for a in data["annotations"] for s in a["keypoint_status"]]
    vis = [v for a in data["annotations"] for v in a["keypoints"][2::3]]
    return CocoExportReport(
        path=out_path,
        images=len(data["images"]),
        annotations=len(data["annotations"]),
        visible_or_occluded=sum(1 for v in vis if v > 0),
        absent=sum(1 for s, v in zip(statuses, vis, strict=True) if v == 0 and s in CONFIRMED_STATUSES),
        predicted=sum(1 for s in statuses if s == PREDICTED),
        no_object=flags.count(FLAG_NO_OBJECT),
        skipped=flags.count(FLAG_SKIP),
        replaced=replaced,
    )


# -- reading -----------------------------------------------------------------------------------
#: The key of an ``images`` entry that carries labeler's image flag ("no_object", "later"): other
#: tools ignore it, and an import into labeler sets the flag back.
FLAG_KEY = "labeler_flag"


@dataclass(frozen=True)
class ImportedObject:
    """One annotation of an image that holds several (or whose box the file says is real)."""

    points: dict[str, ImportedPoint]
    box: tuple[float, float, float, float] | None = None
    box_source: str = "imported"
    name: str | None = None


@dataclass(frozen=True)
class CocoImage:
    coco_id: int
    file_name: str
    width: int | None
    height: int | None
    points: dict[str, ImportedPoint] | None  # None: no annotation for this image
    where: str  # "images[3]", for messages
    flag: str | None = None  # labeler's image flag, from FLAG_KEY
    #: Every object of the image, first one first (``points`` is the first one's), when the file
    #: has several annotations on it or a real box; empty otherwise (one object, as before).
    objects: tuple[ImportedObject, ...] = ()


@dataclass(frozen=True)
class CocoFile:
    category: str
    schema: Schema
    images: tuple[CocoImage, ...]
    notes: tuple[str, ...]
    #: ``category`` is the labels' category name (COCO, YOLO with names), recorded in a fresh
    #: project for its exports; False where it is not one (DeepLabCut's scorer).
    names_category: bool = True


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int(value: Any) -> int | None:
    if _number(value) and float(value).is_integer():
        return int(value)
    return None


class _Problems:
    """Collects every problem of a file, so the user sees them all at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def raise_if_any(self, what: str = "") -> None:
        if not self.items:
            return
        raise FormatError(f"{self.path}: {what or 'not a valid COCO keypoint file'}:\n{listing(self.items, _MAX_LISTED)}")


def _load_json(path: Path) -> Any:
    return load_json(path, "COCO file")


def _no_keypoint_names(data: dict[str, Any], path: Path) -> str:
    """Why a file without named keypoints is refused, and what to add (Label Studio's COCO export
    writes the points of each image but names no keypoint in its categories)."""
    used: dict[Any, set[int]] = {}
    for ann in data["annotations"]:
        if isinstance(ann, dict) and isinstance(ann.get("keypoints"), list) and len(ann["keypoints"]) % 3 == 0:
            used.setdefault(ann.get("category_id"), set()).add(len(ann["keypoints"]) // 3)
    if not used:
        return f"{path}: no category lists keypoint names and no annotation has 'keypoints'; this is not a COCO keypoint file"
    names = {c.get("id"): c.get("name") for c in data["categories"] if isinstance(c, dict)}
    wanted = "; ".join(
        f"category_id {cid!r} ({names[cid]!r})" + (f": {' or '.join(str(k) for k in sorted(ks))} names" if ks else "")
        if cid in names
        else f"category_id {cid!r} (not in 'categories')"
        for cid, ks in used.items()
    )
    return (
        f"{path}: its annotations have keypoints, but no category lists the keypoint names, so which point "
        f"is which is unknown (Label Studio's COCO export leaves the names out). Add \"keypoints\": [the names, "
        f"in the order the points are written] to the category the annotations use ({wanted}) and import again"
    )


def _category(data: dict[str, Any], path: Path, wanted: str | None, problems: _Problems) -> tuple[dict[str, Any], Schema]:
    cats = data["categories"]
    # CVAT writes every label as a category, those without a skeleton with "keypoints": [].
    with_kps = [c for c in cats if isinstance(c, dict) and isinstance(c.get("keypoints"), list) and c["keypoints"]]
    if wanted is not None:
        chosen = [c for c in with_kps if c.get("name") == wanted]
        if not chosen:
            names = ", ".join(str(c.get("name")) for c in with_kps) or "none"
            exists = any(isinstance(c, dict) and c.get("name") == wanted for c in cats)
            what = f"category {wanted!r} has no keypoints" if exists else f"no keypoint category named {wanted!r}"
            raise FormatError(f"{path}: {what} (categories with keypoints: {names})")
    else:
        chosen = with_kps
    if not chosen:
        raise FormatError(_no_keypoint_names(data, path))
    if len(chosen) > 1:
        uses: dict[Any, int] = {}
        for ann in data["annotations"]:
            if isinstance(ann, dict):
                key = ann.get("category_id")
                uses[key] = uses.get(key, 0) + 1
        listed = ", ".join(
            f"{c.get('name')!r} ({uses.get(c.get('id'), 0)} annotation{'' if uses.get(c.get('id'), 0) == 1 else 's'})"
            for c in chosen
        )
        raise FormatError(
            f"{path}: several keypoint categories: {listed}; choose one with --category NAME "
            "(a project holds one kind of object)"
        )
    cat = chosen[0]
    names = cat["keypoints"]
    if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise FormatError(f"{path}: category {cat.get('name')!r}: 'keypoints' must be distinct non-empty names")
    if _int(cat.get("id")) is None:
        problems.add(f"category {cat.get('name')!r}: 'id' must be an integer")
    k = len(names)
    edges: list[tuple[str, str]] = []
    for i, edge in enumerate(cat.get("skeleton") or []):
        ends = [_int(e) for e in edge] if isinstance(edge, list) else []
        if len(ends) != 2 or any(e is None or not 1 <= e <= k for e in ends):
            problems.add(f"categories skeleton[{i}] = {edge!r}: expected two 1-based keypoint indices in 1..{k}")
            continue
        edges.append((names[ends[0] - 1], names[ends[1] - 1]))  # type: ignore[operator]
    pairs: list[tuple[str, str]] = []
    flip = cat.get("flip_idx")
    if flip is not None:
        idx = [_int(f) for f in flip] if isinstance(flip, list) else []
        if len(idx) != k or any(f is None or not 0 <= f < k for f in idx) or any(idx[idx[i]] != i for i in range(k)):  # type: ignore[index]
            problems.add(f"category flip_idx {flip!r}: expected {k} 0-based indices that pair keypoints")
        else:
            pairs = [(names[i], names[j]) for i, j in enumerate(idx) if j is not None and i < j]
    return cat, Schema(tuple(names), tuple(edges), tuple(pairs))


def _points(ann: dict[str, Any], names: Sequence[str], where: str, problems: _Problems) -> dict[str, ImportedPoint]:
    k = len(names)
    kps = ann.get("keypoints")
    if not isinstance(kps, list) or len(kps) != 3 * k or not all(_number(v) for v in kps):
        problems.add(f"{where}: 'keypoints' must be a list of {3 * k} numbers (x, y, v for {k} keypoints)")
        return {}
    status = ann.get("keypoint_status")
    if status is not None and (
        not isinstance(status, list) or len(status) != k or any(s not in (*POINT_STATUSES, UNLABELED) for s in status)
    ):
        problems.add(f"{where}: 'keypoint_status' must list {k} of: {', '.join((*POINT_STATUSES, UNLABELED))}")
        return {}
    scores = ann.get("keypoint_scores")
    if scores is not None and (
        not isinstance(scores, list) or len(scores) != k or any(s is not None and not _number(s) for s in scores)
    ):
        problems.add(f"{where}: 'keypoint_scores' must list {k} numbers")
        return {}
    out: dict[str, ImportedPoint] = {}
    for i, name in enumerate(names):
        x, y, v = kps[3 * i : 3 * i + 3]
        vis = _int(v)
        if vis not in (0, 1, 2):
            problems.add(f"{where} {name}: visibility must be 0, 1 or 2, got {v!r}")
            continue
        st = status[i] if status is not None else (MANUAL if vis > 0 else UNLABELED)
        score = None if scores is None or scores[i] is None else float(scores[i])
        if vis == 0:
            if st == PREDICTED:
                problems.add(f"{where} {name}: a prediction with visibility 0")
            elif st != UNLABELED:
                out[name] = ImportedPoint(None, None, ABSENT, st, None if st == MANUAL else score)
            continue
        if st == UNLABELED:
            problems.add(f"{where} {name}: has a position but keypoint_status says 'unlabeled'")
            continue
        out[name] = ImportedPoint(float(x), float(y), vis, st, None if st == MANUAL else score)
    return out


def _has_labelled(ann: dict[str, Any]) -> bool:
    kps = ann.get("keypoints")
    return isinstance(kps, list) and any(_number(v) and v > 0 for v in kps[2::3])


def _named(category_id: Any, data: dict[str, Any]) -> str:
    names = [c.get("name") for c in data["categories"] if isinstance(c, dict) and c.get("id") == category_id]
    return f" ({names[0]!r})" if names else " (not in 'categories')"


def _several_instances(several: dict[int, int], images: dict[int, dict[str, Any]], category: str) -> str:
    """One message for every image with several instances (a format whose import keeps one)."""
    shown = ", ".join(f"{images[i]['file_name']}: {n}" for i, n in list(several.items())[:5])
    more = f" and {len(several) - 5} more" if len(several) > 5 else ""
    count = f"{len(several)} image has" if len(several) == 1 else f"{len(several)} images have"
    return (
        f"{count} several {category!r} annotations ({shown}{more}); this import keeps one instance per image, "
        "so nothing was imported: keep one annotation per image in a copy of the file (or crop the images "
        "so that each shows one instance) and import that"
    )


def _object(ann: dict[str, Any], points: dict[str, ImportedPoint], where: str, problems: _Problems) -> ImportedObject:
    box = ann.get("bbox")
    parsed = None
    # a bbox that is not a usable box is left out, as before boxes were read (tools write odd ones)
    if isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box) and box[2] > 0 and box[3] > 0:
        parsed = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
    if "keypoint_status" in ann and "box_source" not in ann:
        parsed = None  # labeler's own export: its object had no box, this bbox is the points' box
    source = ann.get("box_source")
    source = source if source in BOX_SOURCES and source != "detected" else "imported"
    name = ann.get("instance_name")
    name = name if isinstance(name, str) and name.strip() and name.isprintable() and len(name) <= 200 else None
    return ImportedObject(points, parsed, source, name)


def read_coco(path: str | os.PathLike[str], *, category: str | None = None) -> CocoFile:
    """Parse and check a COCO keypoint file; every problem is reported in one FormatError."""
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data, dict) or not all(isinstance(data.get(key), list) for key in ("images", "annotations", "categories")):
        raise FormatError(f"{path}: not a COCO file (needs 'images', 'annotations' and 'categories' lists)")
    problems = _Problems(path)
    cat, schema = _category(data, path, category, problems)
    cat_id = cat.get("id")
    keypoint_ids = [c.get("id") for c in data["categories"] if isinstance(c, dict) and isinstance(c.get("keypoints"), list) and c["keypoints"]]
    images: dict[int, dict[str, Any]] = {}
    where_image: dict[int, str] = {}
    for i, im in enumerate(data["images"]):
        where = f"images[{i}]"
        if not isinstance(im, dict) or _int(im.get("id")) is None or not isinstance(im.get("file_name"), str) or not im["file_name"]:
            problems.add(f"{where}: needs an integer 'id' and a 'file_name'")
            continue
        for key in ("width", "height"):  # null: unknown (Label Studio, for images it could not open)
            if im.get(key) is not None and (_int(im[key]) is None or im[key] <= 0):
                problems.add(f"{where} ({im['file_name']}): '{key}' must be a positive integer")
        image_id = int(im["id"])
        if image_id in images:
            problems.add(f"{where}: image id {image_id} is used twice")
            continue
        if im.get(FLAG_KEY) is not None and im[FLAG_KEY] not in IMAGE_FLAGS:
            problems.add(f"{where} ({im['file_name']}): {FLAG_KEY} must be one of {', '.join(IMAGE_FLAGS)}")
        images[image_id] = im
        where_image[image_id] = f"{where} ({im['file_name']})"
    notes: list[str] = []
    other = crowd = 0
    annotated: dict[int, dict[str, ImportedPoint]] = {}
    objects: dict[int, list[ImportedObject]] = {}  # image id -> its annotations, in file order
    real_box: set[int] = set()  # images whose (single) annotation says its bbox is a real box
    crowded: set[int] = set()  # images with more than MAX_OBJECTS_PER_IMAGE annotations
    placed_v0 = 0  # x, y, 0 with a position: CVAT writes points marked "outside" so
    for i, ann in enumerate(data["annotations"]):
        where = f"annotations[{i}]"
        if not isinstance(ann, dict):
            problems.add(f"{where}: not an object")
            continue
        if ann.get("category_id") != cat_id:
            if ann.get("category_id") not in keypoint_ids and _has_labelled(ann):
                on = images.get(_int(ann.get("image_id")))  # type: ignore[arg-type]
                problems.add(
                    f"{where}{' of ' + on['file_name'] if on else ''}: has labelled "
                    f"keypoints, but its category_id {ann.get('category_id')!r}{_named(ann.get('category_id'), data)} "
                    f"names no keypoints (the keypoint names are those of {cat.get('name')!r} (id {cat_id!r}); "
                    "fix the category_id or move the names)"
                )
            other += 1
            continue
        if ann.get("iscrowd", 0) not in (0, False):
            crowd += 1
            continue
        image_id = _int(ann.get("image_id"))
        if image_id is None or image_id not in images:
            problems.add(f"{where}: 'image_id' {ann.get('image_id')!r} is not in 'images'")
            continue
        where = f"{where} of {images[image_id]['file_name']}"
        mine = objects.setdefault(image_id, [])
        if len(mine) >= MAX_OBJECTS_PER_IMAGE:
            crowded.add(image_id)
            continue
        points = _points(ann, schema.keypoints, where, problems)
        mine.append(_object(ann, points, where, problems))
        if ann.get("box_source") in BOX_SOURCES:
            real_box.add(image_id)
        if image_id in annotated:
            continue
        annotated[image_id] = points
        if ann.get("keypoint_status") is None and isinstance(ann.get("keypoints"), list):
            kps = ann["keypoints"]
            placed_v0 += sum(1 for i in range(0, len(kps) - 2, 3) if kps[i + 2] == 0 and (kps[i] != 0 or kps[i + 1] != 0))
    if crowded:
        listed = ", ".join(str(images[i]["file_name"]) for i in list(crowded)[:5])
        problems.add(f"{len(crowded)} image(s) have more than {MAX_OBJECTS_PER_IMAGE} annotations of "
                     f"{cat.get('name')!r} ({listed}); at most {MAX_OBJECTS_PER_IMAGE} objects per image are imported")
    problems.raise_if_any()
    if other:
        notes.append(f"ignored {other} annotation{'' if other == 1 else 's'} of other categories (such as boxes)")
    if crowd:
        notes.append(f"ignored {crowd} crowd annotation{'' if crowd == 1 else 's'} (iscrowd 1)")
    if placed_v0:
        notes.append(
            f"{placed_v0} point{' has' if placed_v0 == 1 else 's have'} visibility 0 but a position (CVAT writes "
            "points marked 'outside' so); COCO's visibility 0 means not labelled, so they were left not labelled"
        )
    entries = tuple(
        CocoImage(
            coco_id=image_id,
            file_name=im["file_name"],
            width=_int(im.get("width")),
            height=_int(im.get("height")),
            points=annotated.get(image_id),
            where=where_image[image_id],
            flag=im.get(FLAG_KEY) if im.get(FLAG_KEY) in IMAGE_FLAGS else None,
            objects=tuple(objects[image_id]) if len(objects.get(image_id, ())) > 1 or image_id in real_box else (),
        )
        for image_id, im in images.items()
    )
    return CocoFile(category=str(cat.get("name")), schema=schema, images=entries, notes=tuple(notes))


# -- import ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CocoImportReport:
    merge: MergeReport
    matched: int  # file images found in the project or registered now
    registered: tuple[str, ...]  # images registered because the file named them
    not_imported: tuple[tuple[str, str, int], ...]  # (file_name, why, points it had) per image left out
    notes: tuple[str, ...]

    @property
    def points_not_imported(self) -> int:
        return sum(n for _, _, n in self.not_imported)


_Listings = dict[Path, dict[str, list[str]]]


def _rel_path(file_name: str, root: Path) -> str | None:
    """The file name as a path under the root, or None when it points outside."""
    if os.path.isabs(file_name) or file_name.startswith(("/", "\\")):
        return relative_to_root(file_name, root)
    if escapes(file_name):
        return None
    return normalise_rel(file_name)


def _after_root_name(file_name: str, root: Path, known_by_key: dict[str, str], listings: _Listings) -> str | None:
    """An absolute name from another machine ('/home/alice/data/images/a.jpg', 'C:\\data\\images\\a.jpg')
    means the image after a component equal to the images folder's own name, when that image is
    in the project or on disk here; None otherwise."""
    if not (os.path.isabs(file_name) or file_name.startswith(("/", "\\")) or file_name[1:3] in (":\\", ":/")):
        return None
    parts = [p for p in file_name.replace("\\", "/").split("/") if p]
    anchors = [i for i, part in enumerate(parts[:-1]) if unicode_key(part) == unicode_key(root.name)]
    for i in anchors:  # the earliest that names an image here ('images/images/a.jpg' is possible)
        rest = "/".join(parts[i + 1 :])
        if escapes(rest):
            continue
        rel = _resolve(normalise_rel(rest), known_by_key, root, listings)
        if unicode_key(rel) in known_by_key or image_file(root, rel).is_file():
            return rel
    return None


def _resolve(rel: str, known_by_key: dict[str, str], root: Path, listings: _Listings) -> str:
    """A file_name not registered as spelled: the registered or on-disk image it means, if any
    (another Unicode normalisation; Windows backslashes; the images folder's own name in front),
    else ``rel`` unchanged."""
    spellings = [rel]
    if "\\" in rel and os.sep == "/":
        spellings.append(normalise_rel(rel.replace("\\", "/")))
    for spelled in list(spellings):  # 'images/a.jpg' for the root '.../images': drop the repeat
        parts = spelled.split("/")
        for n in range(1, min(len(parts) - 1, len(root.parts)) + 1):
            if [unicode_key(p) for p in parts[:n]] == [unicode_key(p) for p in root.parts[-n:]]:
                spellings.append("/".join(parts[n:]))
    for candidate in spellings:
        found = known_by_key.get(unicode_key(candidate)) or find_on_disk(root, candidate, listings)
        if found:
            return found
    return rel


def _compare_schema(project_schema: Schema, file_schema: Schema, path: Path) -> list[str]:
    mine, theirs = project_schema.keypoints, file_schema.keypoints
    if set(mine) != set(theirs):
        missing = [n for n in mine if n not in theirs]
        extra = [n for n in theirs if n not in mine]
        detail = "; ".join(
            part
            for part in (
                f"not in the file: {', '.join(missing)}" if missing else "",
                f"not in the project: {', '.join(extra)}" if extra else "",
            )
            if part
        )
        raise FormatError(
            f"{path}: its keypoints ({', '.join(theirs)}) do not match the project's ({', '.join(mine)}); {detail}"
        )
    notes = []
    if mine != theirs:
        notes.append("the file lists the keypoints in another order; points were matched by name")
    if {frozenset(e) for e in project_schema.skeleton} != {frozenset(e) for e in file_schema.skeleton}:
        notes.append("the file's skeleton differs from the project's; the project's was kept")
    if {frozenset(p) for p in project_schema.flip_pairs} != {frozenset(p) for p in file_schema.flip_pairs}:
        notes.append("the file's flip pairs differ from the project's; the project's were kept")
    return notes


def import_coco(
    project: Project,
    path: str | os.PathLike[str],
    *,
    category: str | None = None,
    on_conflict: OnConflict = "error",
    progress: bool | None = None,
) -> CocoImportReport:
    """Merge a COCO keypoint file into the project; all of it, or (on any error) nothing."""
    path = Path(path)
    if project.is_own_file(path):
        raise FormatError(f"{path} is the project file itself, not a COCO file; give the COCO JSON file to import")
    coco = read_coco(path, category=category)
    return merge_coco_file(project, coco, path, on_conflict=on_conflict, progress=progress)


def merge_coco_file(
    project: Project,
    coco: CocoFile,
    path: Path,
    *,
    on_conflict: OnConflict = "error",
    progress: bool | None = None,
) -> CocoImportReport:
    """Merge parsed labels (from COCO or another format read into a :class:`CocoFile`): file names
    matched to images under the root, the same refusals, all of it or nothing."""
    project_schema = project.schema()
    notes = list(coco.notes)
    create_schema = not project_schema.keypoints
    if not create_schema:
        notes += _compare_schema(project_schema, coco.schema, path)

    root = project.images_root
    known = {im.path: im for im in project.list_images()}
    # file_name may spell a name in another Unicode normalisation than the disk (NFC vs NFD)
    known_by_key = {unicode_key(p): p for p in known}
    listings: _Listings = {}  # folder listings, read once per import
    problems = _Problems(path)
    rel_of: dict[int, str] = {}
    seen: dict[str, str] = {}
    for entry in coco.images:
        rel = _rel_path(entry.file_name, root)
        if rel is None:
            rel = _after_root_name(entry.file_name, root, known_by_key, listings)
        if rel is None:
            problems.add(f"{entry.where}: file_name points outside the images root {root}")
            continue
        if rel not in known:
            rel = _resolve(rel, known_by_key, root, listings)
        if rel in seen:
            problems.add(f"{entry.where}: names the same image as {seen[rel]}")
            continue
        seen[rel] = entry.where
        rel_of[entry.coco_id] = rel
    problems.raise_if_any("refusing to import")

    candidates = []
    why_not: dict[str, str] = {}
    for entry in coco.images:
        rel = rel_of[entry.coco_id]
        if rel in known:
            continue
        try:
            full = real_image_file(root, rel)
        except OutsideImagesFolder:
            why_not[rel] = "a symbolic link leading outside the images folder (not read)"
            continue
        if full.is_file():
            candidates.append((full, rel))
        else:
            why_not[rel] = "no such file under the images root"
    probed, unreadable = probe_files(candidates, progress=progress) if candidates else ([], [])
    why_not.update({skipped.path: skipped.reason for skipped in unreadable})
    sizes = {rel: (im.width, im.height) for rel, im in known.items()}
    sizes.update({p.rel: (p.info.width, p.info.height) for p in probed})

    labels: dict[str, dict[str, ImportedPoint]] = {}
    several: dict[str, tuple[ImportedObject, ...]] = {}
    not_imported: list[tuple[str, str, int]] = []
    for entry in coco.images:
        rel = rel_of[entry.coco_id]
        if rel in why_not:
            not_imported.append((entry.file_name, why_not[rel], len(entry.points or {})))
            continue
        w, h = sizes[rel]
        if entry.width is not None and entry.height is not None and (entry.width, entry.height) != (w, h):
            hint = " (EXIF orientation? sizes here are as the image is displayed)" if (entry.width, entry.height) == (h, w) else ""
            problems.add(f"{entry.where}: size {entry.width}x{entry.height} in the file, {w}x{h} on disk{hint}")
            continue
        for k, obj in enumerate(entry.objects or (ImportedObject(entry.points or {}),)):
            which = f" object {k + 1}" if entry.objects else ""
            for name, pt in obj.points.items():
                if pt.visibility != ABSENT and not (0 <= (pt.x or 0.0) <= w and 0 <= (pt.y or 0.0) <= h):
                    problems.add(f"{entry.where}{which} {name}: ({pt.x:g}, {pt.y:g}) is outside the {w}x{h} image")
        if entry.points:
            labels[rel] = entry.points
        if entry.objects:
            several[rel] = entry.objects
    problems.raise_if_any("refusing to import")

    merge = project.merge_points(
        labels,
        new_images=probed,
        schema=coco.schema if create_schema else None,
        on_conflict=on_conflict,
        category=coco.category if coco.names_category else None,
        flags={rel_of[e.coco_id]: e.flag for e in coco.images if e.flag and rel_of[e.coco_id] not in why_not},
    )
    if several:  # the first object went in with the points above; its box and the others now
        project.merge_objects(
            {rel: [(o.box, o.box_source, o.name, o.points) for o in objs] for rel, objs in several.items()}
        )
        further = [o for objs in several.values() for o in objs[1:]]
        if further:  # the counts above are the first objects': say what the others brought
            n = sum(len(o.points) for o in further)
            on = sum(1 for objs in several.values() if len(objs) > 1)
            notes.append(f"{len(further)} further object(s) on {on} image(s): their {n} point(s) "
                         "taken as the file has them (not in the counts above)")
    return CocoImportReport(
        merge=merge,
        matched=len(coco.images) - len(not_imported),
        registered=merge.images_added,
        not_imported=tuple(not_imported),
        notes=tuple(notes),
    )


__all__ = [
    "BBOX_MIN_PADDING",
    "BBOX_PADDING",
    "UNLABELED",
    "CocoExportReport",
    "CocoFile",
    "CocoImage",
    "CocoImportReport",
    "bbox_from_points",
    "export_coco",
    "import_coco",
    "merge_coco_file",
    "read_coco",
    "to_coco",
]
