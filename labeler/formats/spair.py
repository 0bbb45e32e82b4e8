"""SPair-71k layout: reading the official dataset and writing a project's labels in the same shape.

The layout (Min et al. 2019, as the public loaders of DIFT, GeoAware-SC and Hedlin et al. read it)::

    ROOT/JPEGImages/{category}/{name}.jpg
    ROOT/ImageAnnotation/{category}/{name}.json          one per image, "kps": {"0": [x, y] | null}
    ROOT/PairAnnotation/{trn,val,test}/{pairid}-{src}-{trg}:{category}.json
    ROOT/Layout/{large,small}/{trn,val,test}.txt        one pair name (file stem) a line

Coordinates in these files are integer pixel indices (DIFT indexes feature maps with them
directly), i.e. the pixel whose centre is ``i + 0.5`` in the project's continuous convention
(:mod:`labeler.correspondence.base`). :data:`PIXEL_CENTRE` converts between the two.

Image and category names carry no ``-`` or ``:`` (the writer replaces them with ``_``) because
loaders split the pair name on them; images end in ``.jpg`` because loaders append that
suffix. The pair file names contain ``:`` as in the official dataset, so an export cannot be
written on Windows file systems.

No torch and no Qt here (a test enforces it): the writer takes plain data, so any front end
(the project store, a script) can feed it.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from labeler.atomic import replace_dir, temp_dir
from labeler.errors import FormatError, UserInputError
from labeler.formats.jsonfile import load_json
from labeler.imaging import load_rgb
from labeler.paths import publish_mode

SPLITS = ("trn", "val", "test")
LAYOUTS = ("large", "small")
#: Offset from an SPair integer pixel index to the project's continuous coordinate of its centre.
PIXEL_CENTRE = 0.5
#: Written at the export root: keypoint names per category and where every image came from.
EXPORT_META = "labeler_export.json"
#: Above this many candidate image pairs, pairs are sampled (``max_pairs`` required), not listed.
ENUMERATE_LIMIT = 500_000
#: Share of each split listed in Layout/small (the official small layout holds about a fifth).
SMALL_LAYOUT_SHARE = 0.2

_PAIR_FIELDS = (
    "pair_id", "filename", "src_imname", "trg_imname", "src_imsize", "trg_imsize",
    "src_bndbox", "trg_bndbox", "category", "src_kps", "trg_kps", "kps_ids",
)
_NAME_OK = re.compile(r"[^A-Za-z0-9_]+")


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class SPairPair:
    """One PairAnnotation file, fields as stored (integer pixel indices, [x1, y1, x2, y2] boxes)."""

    name: str  # the file stem, e.g. "000001-2008_000585-2008_002221:aeroplane"
    pair_id: int
    category: str
    src_imname: str
    trg_imname: str
    src_imsize: tuple[int, int, int]  # (W, H, C)
    trg_imsize: tuple[int, int, int]
    src_bndbox: tuple[float, float, float, float]
    trg_bndbox: tuple[float, float, float, float]
    src_kps: tuple[tuple[float, float], ...]
    trg_kps: tuple[tuple[float, float], ...]
    kps_ids: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def _load_json(path: Path) -> Any:
    return load_json(path, "SPair annotation file")


def _integer(value: Any) -> int | None:
    """An integer field as stored (``7``, ``7.0`` or ``"7"``); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _xy_list(value: Any, path: Path, key: str) -> tuple[tuple[float, float], ...]:
    try:
        pts = tuple((float(p[0]), float(p[1])) for p in value)
    except (TypeError, ValueError, IndexError):
        raise FormatError(f"{path}: {key!r} must be a list of [x, y] pairs") from None
    return pts


def read_pair(path: Path) -> SPairPair:
    """Parse one PairAnnotation JSON file, checking the fields evaluation relies on."""
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data, dict):
        raise FormatError(f"{path}: expected a JSON object")
    missing = [k for k in _PAIR_FIELDS if k not in data]
    if missing:
        raise FormatError(f"{path}: missing SPair field(s) {', '.join(missing)}")
    src_kps = _xy_list(data["src_kps"], path, "src_kps")
    trg_kps = _xy_list(data["trg_kps"], path, "trg_kps")
    if not isinstance(data["kps_ids"], list):
        raise FormatError(f"{path}: kps_ids must be a list of keypoint ids, got {data['kps_ids']!r}")
    kps_ids = tuple(str(k) for k in data["kps_ids"])
    if not (len(src_kps) == len(trg_kps) == len(kps_ids)):
        raise FormatError(
            f"{path}: src_kps ({len(src_kps)}), trg_kps ({len(trg_kps)}) and kps_ids "
            f"({len(kps_ids)}) must have the same length"
        )
    try:
        src_size = tuple(int(v) for v in data["src_imsize"])
        trg_size = tuple(int(v) for v in data["trg_imsize"])
        src_box = tuple(float(v) for v in data["src_bndbox"])
        trg_box = tuple(float(v) for v in data["trg_bndbox"])
    except (TypeError, ValueError):
        raise FormatError(f"{path}: imsize and bndbox must be lists of numbers") from None
    if len(src_size) < 2 or len(trg_size) < 2 or len(src_box) != 4 or len(trg_box) != 4:
        raise FormatError(f"{path}: imsize needs [W, H, C] and bndbox [x1, y1, x2, y2]")
    pair_id = _integer(data["pair_id"])
    if pair_id is None:
        raise FormatError(f"{path}: pair_id must be an integer, got {data['pair_id']!r}")
    extra = {k: v for k, v in data.items() if k not in _PAIR_FIELDS}
    return SPairPair(
        name=path.stem,
        pair_id=pair_id,
        category=str(data["category"]),
        src_imname=str(data["src_imname"]),
        trg_imname=str(data["trg_imname"]),
        src_imsize=(src_size + (3,))[:3],  # type: ignore[arg-type]
        trg_imsize=(trg_size + (3,))[:3],  # type: ignore[arg-type]
        src_bndbox=src_box,  # type: ignore[arg-type]
        trg_bndbox=trg_box,  # type: ignore[arg-type]
        src_kps=src_kps,
        trg_kps=trg_kps,
        kps_ids=kps_ids,
        extra=extra,
    )


def find_root(root: Path) -> Path:
    """The folder holding PairAnnotation/ (``root`` itself or its ``SPair-71k`` child)."""
    root = Path(root)
    for candidate in (root, root / "SPair-71k"):
        if (candidate / "PairAnnotation").is_dir():
            return candidate
    raise UserInputError(
        f"{root}: not an SPair-71k folder (no PairAnnotation/ inside). Point --root at the "
        "extracted SPair-71k directory (the one holding JPEGImages/, PairAnnotation/, Layout/)."
    )


def list_pairs(root: Path, split: str = "test", layout: str = "large") -> list[str]:
    """Pair names of a split: from Layout/{layout}/{split}.txt when present, else every file of
    PairAnnotation/{split}/ in sorted order (what DIFT's and GeoAware-SC's loaders do)."""
    if split not in SPLITS:
        raise UserInputError(f"unknown SPair split {split!r}; choose one of {', '.join(SPLITS)}")
    if layout not in LAYOUTS:
        raise UserInputError(f"unknown SPair layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    root = Path(root)
    listing = root / "Layout" / layout / f"{split}.txt"
    if listing.is_file():
        names = [ln.strip() for ln in listing.read_text(encoding="utf-8").splitlines()]
        return [n for n in names if n]
    folder = root / "PairAnnotation" / split
    if not folder.is_dir():
        raise UserInputError(f"{root}: neither {listing} nor {folder} exists")
    return sorted(p.stem for p in folder.glob("*.json"))


def pair_path(root: Path, split: str, name: str) -> Path:
    return Path(root) / "PairAnnotation" / split / f"{name}.json"


def image_path(root: Path, category: str, imname: str) -> Path:
    return Path(root) / "JPEGImages" / category / imname


def read_image_annotation(root: Path, category: str, imname: str) -> dict[str, Any]:
    path = Path(root) / "ImageAnnotation" / category / f"{Path(imname).stem}.json"
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("kps"), dict):
        raise FormatError(f"{path}: expected an object with a 'kps' mapping")
    return data


def read_export_meta(root: Path) -> dict[str, Any] | None:
    """The mapping a labeler export writes beside the dataset (None for the official dataset)."""
    path = Path(root) / EXPORT_META
    return _load_json(path) if path.is_file() else None


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class LabelledImage:
    """One image with confirmed labels, in the project's conventions.

    ``keypoints`` maps a keypoint name to ``(x, y, v)`` in continuous display pixels, with COCO's
    visibility: 0 not labelled, 1 labelled but not visible, 2 visible. Only visible points are
    written (SPair annotates visible keypoints only). ``bbox`` ([x1, y1, x2, y2], continuous
    pixels) is optional: without it the box spanned by the visible keypoints is used.
    """

    relative_path: str
    source_path: Path
    width: int
    height: int
    category: str
    keypoints: Mapping[str, tuple[float, float, int]]
    bbox: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class SPairExportConfig:
    #: Shares of images per category going to (trn, val, test); splits never share an image.
    split_ratio: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    #: At most this many pairs in all (a seeded sample, kept proportional across splits).
    max_pairs: int | None = None
    #: Integer pixel indices as in the official dataset (loaders index arrays with them); False
    #: keeps sub-pixel floats (index = continuous coordinate - 0.5).
    integer_coords: bool = True
    jpeg_quality: int = 95
    #: Replace an earlier labeler export in the output folder (never anything else).
    overwrite: bool = False

    def __post_init__(self) -> None:
        ratio = tuple(float(r) for r in self.split_ratio)
        if len(ratio) != 3 or any(r < 0 or not math.isfinite(r) for r in ratio) or sum(ratio) <= 0:
            raise UserInputError(
                f"split ratio must be three non-negative numbers for trn,val,test (got {self.split_ratio!r})"
            )
        object.__setattr__(self, "split_ratio", tuple(r / sum(ratio) for r in ratio))
        if self.max_pairs is not None and self.max_pairs < 1:
            raise UserInputError(f"--max-pairs must be at least 1 (got {self.max_pairs})")


def parse_split_ratio(text: str) -> tuple[float, float, float]:
    """"0.8,0.1,0.1" or "8:1:1" -> normalised (trn, val, test)."""
    parts = [p for p in re.split(r"[,:/ ]+", text.strip()) if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise UserInputError(f"--split-ratio takes three numbers for trn,val,test, e.g. 0.8,0.1,0.1 (got {text!r})")
    return SPairExportConfig(split_ratio=values).split_ratio  # type: ignore[arg-type]


@dataclass
class SPairExportSummary:
    root: Path
    images: dict[str, int]  # split -> number of images
    pairs: dict[str, int]  # split -> number of pairs written
    pairs_available: int | None  # before --max-pairs; None when sampled without counting
    skipped_images: list[str]  # relative paths without any visible keypoint
    image_names: dict[str, str]  # relative path -> "category/name.jpg"
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Entry:
    image: LabelledImage
    name: str  # unique stem within the category
    kps: dict[str, tuple[float | int, float | int]]  # visible keypoints, written index coordinates
    occluded: bool
    bbox: tuple[float | int, ...]
    split: str = "trn"


def _index(value: float, size: int, integer: bool) -> float | int:
    """Continuous coordinate -> SPair pixel index (the pixel containing it, or a float index)."""
    if integer:
        return min(max(0, math.floor(value)), max(0, int(size) - 1))
    return round(value - PIXEL_CENTRE, 3)


def _stem_for(relative_path: str) -> str:
    stem = _NAME_OK.sub("_", str(Path(relative_path).with_suffix(""))).strip("_")
    return stem or "image"


def _unique_names(entries: Sequence[LabelledImage]) -> list[str]:
    """Stems made from the relative paths, unique per category (case-insensitively)."""
    taken: dict[str, set[str]] = {}
    names = []
    for im in entries:
        used = taken.setdefault(im.category, set())
        base = _stem_for(im.relative_path)
        name, k = base, 2
        while name.lower() in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name.lower())
        names.append(name)
    return names


def _folder_name(category: str) -> str:
    """The category as an SPair folder name: letters, digits and '_' only ('-' and ':' split names)."""
    return _NAME_OK.sub("_", category).strip("_") or "object"


def _split_counts(n: int, ratio: Sequence[float]) -> tuple[int, int, int]:
    n_val = int(round(n * ratio[1]))
    n_test = int(round(n * ratio[2]))
    n_val = min(n_val, n)
    n_test = min(n_test, n - n_val)
    return n - n_val - n_test, n_val, n_test


def _copy_or_encode(src: Path, dst: Path, size: tuple[int, int], quality: int) -> None:
    """Copy JPEG bytes when the file is upright RGB/gray; otherwise re-encode what the annotator saw."""
    try:
        with Image.open(src) as im:
            upright = int(im.getexif().get(0x0112, 1) or 1) == 1
            copyable = im.format == "JPEG" and upright and im.mode in ("RGB", "L") and im.size == size
    except Exception:  # noqa: BLE001 - load_rgb below gives the user-facing message
        copyable = False
    if copyable:
        shutil.copyfile(src, dst)
        return
    rgb = load_rgb(src)
    if (rgb.shape[1], rgb.shape[0]) != size:
        raise FormatError(
            f"{src}: image is {rgb.shape[1]}x{rgb.shape[0]} but its labels were made on {size[0]}x{size[1]}"
        )
    Image.fromarray(rgb).save(dst, format="JPEG", quality=quality)


def _prepare(images: Sequence[LabelledImage], cfg: SPairExportConfig, order: Mapping[str, Sequence[str]]):
    names = _unique_names(images)
    entries: list[_Entry] = []
    skipped: list[str] = []
    for im, name in zip(images, names):
        schema = order[im.category]
        unknown = sorted(set(im.keypoints) - set(schema))
        if unknown:
            raise UserInputError(f"{im.relative_path}: keypoint(s) {', '.join(unknown)} are not in the keypoint order")
        kps: dict[str, tuple[float | int, float | int]] = {}
        occluded = False
        for kname, (x, y, v) in im.keypoints.items():
            if int(v) == 1:
                occluded = True
            if int(v) != 2:
                continue
            if not (0 <= x <= im.width and 0 <= y <= im.height):
                raise UserInputError(
                    f"{im.relative_path}: keypoint {kname!r} at ({x:.1f}, {y:.1f}) lies outside the "
                    f"{im.width}x{im.height} image"
                )
            kps[kname] = (_index(x, im.width, cfg.integer_coords), _index(y, im.height, cfg.integer_coords))
        if not kps:
            skipped.append(im.relative_path)
            continue
        if im.bbox is not None:
            x1, y1, x2, y2 = im.bbox
            w, h, integer = im.width, im.height, cfg.integer_coords
            box = (_index(x1, w, integer), _index(y1, h, integer), _index(x2, w, integer), _index(y2, h, integer))
        else:
            xs = [kps[k][0] for k in kps]
            ys = [kps[k][1] for k in kps]
            box = (min(xs), min(ys), max(xs), max(ys))
        entries.append(_Entry(image=im, name=name, kps=kps, occluded=occluded, bbox=box))
    return entries, skipped


def _assign_splits(entries: list[_Entry], cfg: SPairExportConfig) -> None:
    by_cat: dict[str, list[_Entry]] = {}
    for e in entries:
        by_cat.setdefault(e.image.category, []).append(e)
    for cat in sorted(by_cat):
        group = sorted(by_cat[cat], key=lambda e: e.name)
        random.Random(f"{cfg.seed}:{cat}").shuffle(group)
        n_trn, n_val, _ = _split_counts(len(group), cfg.split_ratio)
        for i, e in enumerate(group):
            e.split = "trn" if i < n_trn else "val" if i < n_trn + n_val else "test"


_Pair = tuple["_Entry", "_Entry", list[str]]


def _groups(entries: list[_Entry]) -> list[tuple[str, str, list[_Entry]]]:
    """(split, category, images sorted by name), in split then category order."""
    groups: dict[tuple[str, str], list[_Entry]] = {}
    for e in entries:
        groups.setdefault((e.split, e.image.category), []).append(e)
    return [(split, cat, sorted(groups[(split, cat)], key=lambda e: e.name))
            for split, cat in sorted(groups, key=lambda k: (SPLITS.index(k[0]), k[1]))]


def _common(src: _Entry, trg: _Entry, schema: Sequence[str]) -> list[str]:
    return [k for k in schema if k in src.kps and k in trg.kps]


def _shares(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders get the leftovers)."""
    whole = sum(weights)
    if whole == 0:
        return [0] * len(weights)
    exact = [total * w / whole for w in weights]
    shares = [int(math.floor(x)) for x in exact]
    for i in sorted(range(len(weights)), key=lambda i: -(exact[i] - shares[i]))[: total - sum(shares)]:
        shares[i] += 1
    return shares


def nth_pair(k: int, n: int) -> tuple[int, int]:
    """The ``k``-th element of ``itertools.combinations(range(n), 2)``, without listing them."""
    lo, hi = 0, n - 1  # largest i with i*(2n - i - 1)/2 <= k
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid * (2 * n - mid - 1) // 2 <= k:
            lo = mid
        else:
            hi = mid - 1
    return lo, k - lo * (2 * n - lo - 1) // 2 + lo + 1


def _sample_group(group: list[_Entry], schema: Sequence[str], quota: int, rng: random.Random) -> list[_Pair]:
    """Up to ``quota`` pairs with a co-visible keypoint, drawn at random from all C(n, 2)."""
    n = len(group)
    candidates = n * (n - 1) // 2
    seen: set[int] = set()
    kept: list[tuple[int, _Pair]] = []
    budget = 20 * quota + 1000  # give up on groups whose pairs rarely share a keypoint
    while len(kept) < quota and len(seen) < candidates and budget > 0:
        budget -= 1
        k = rng.randrange(candidates)
        if k in seen:
            continue
        seen.add(k)
        i, j = nth_pair(k, n)
        common = _common(group[i], group[j], schema)
        if common:
            kept.append((k, (group[i], group[j], common)))
    return [p for _, p in sorted(kept, key=lambda t: t[0])]


def _choose_pairs(
    entries: list[_Entry], order: Mapping[str, Sequence[str]], cfg: SPairExportConfig
) -> tuple[dict[str, list[_Pair]], int | None]:
    """Pairs per split and how many were available (None when sampled without counting).

    Up to :data:`ENUMERATE_LIMIT` candidate image pairs, every pair is listed and ``max_pairs``
    keeps a seeded sample (proportional across splits). Beyond it (large projects: 10k images
    of one category give 50M candidates) ``max_pairs`` is required and pairs are drawn at random
    per split and category, proportional to their candidate counts, without listing them all.
    """
    groups = _groups(entries)
    candidates = sum(len(g) * (len(g) - 1) // 2 for _, _, g in groups)
    pairs: dict[str, list[_Pair]] = {s: [] for s in SPLITS}
    rng = random.Random(cfg.seed)
    if candidates > ENUMERATE_LIMIT:
        if cfg.max_pairs is None:
            raise UserInputError(
                f"{len(entries)} labelled images give {candidates:,} candidate pairs; pass --max-pairs N "
                "(for example 50000) to write a seeded sample of them"
            )
        quotas = _shares(cfg.max_pairs, [len(g) * (len(g) - 1) // 2 for _, _, g in groups])
        for (split, cat, group), quota in zip(groups, quotas):
            pairs[split].extend(_sample_group(group, order[cat], quota, rng))
        return pairs, None
    for split, cat, group in groups:
        for i, src in enumerate(group):
            for trg in group[i + 1:]:
                common = _common(src, trg, order[cat])
                if common:
                    pairs[split].append((src, trg, common))
    available = sum(len(v) for v in pairs.values())
    if cfg.max_pairs is not None and available > cfg.max_pairs:
        quotas = _shares(cfg.max_pairs, [len(pairs[s]) for s in SPLITS])
        for s, quota in zip(SPLITS, quotas):
            keep = sorted(rng.sample(range(len(pairs[s])), quota))
            pairs[s] = [pairs[s][i] for i in keep]
    return pairs, available


def _image_json(e: _Entry, schema: Sequence[str]) -> dict[str, Any]:
    im = e.image
    return {
        "filename": f"{e.name}.jpg",
        "src_database": "labeler",
        "src_annotation": "labeler",
        "src_image": im.relative_path,
        "image_width": int(im.width),
        "image_height": int(im.height),
        "image_depth": 3,
        "category": im.category,
        "pose": "Unspecified",
        "truncated": 0,
        "occluded": int(e.occluded),
        "difficult": 0,
        "bndbox": list(e.bbox),
        "kps": {str(i): (list(e.kps[k]) if k in e.kps else None) for i, k in enumerate(schema)},
        "azimuth_id": 0,
    }


def _pair_json(pair_id: int, stem: str, src: _Entry, trg: _Entry, common: Sequence[str], schema: Sequence[str]) -> dict[str, Any]:
    ids = [str(list(schema).index(k)) for k in common]
    return {
        "pair_id": pair_id,
        "filename": stem,
        "src_imname": f"{src.name}.jpg",
        "trg_imname": f"{trg.name}.jpg",
        "src_imsize": [int(src.image.width), int(src.image.height), 3],
        "trg_imsize": [int(trg.image.width), int(trg.image.height), 3],
        "src_bndbox": list(src.bbox),
        "trg_bndbox": list(trg.bbox),
        "src_pose": "Unspecified",
        "trg_pose": "Unspecified",
        "category": src.image.category,
        "src_kps": [list(src.kps[k]) for k in common],
        "trg_kps": [list(trg.kps[k]) for k in common],
        "kps_ids": ids,
        "mirror": 0,
        # Unknown for a project's images (no azimuth, no truncation flag): 0 = "none/easy".
        "viewpoint_variation": 0,
        "scale_variation": 0,
        "truncation": 0,
        # SPair's coding: 0 none, 1 source, 2 target, 3 both; from points labelled "not visible".
        "occlusion": int(src.occluded) + 2 * int(trg.occluded),
    }


def _flip_ids(names: Sequence[str], flip_pairs: Sequence[tuple[str, str]]) -> list[list[str]]:
    """The flip pairs among ``names`` as keypoint-id pairs (``["0", "1"]``)."""
    index = {n: str(i) for i, n in enumerate(names)}
    return [[index[a], index[b]] for a, b in flip_pairs if a in index and b in index]


def _check_out_dir(out: Path, overwrite: bool) -> None:
    if os.name == "nt":
        raise UserInputError("SPair pair files are named with ':' which Windows file systems do not allow")
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out}: exists and is not a folder")
    for folder in out.parents:  # the nearest existing folder above must be a folder
        if folder.exists() or folder.is_symlink():
            if not folder.is_dir():
                raise UserInputError(f"cannot create {out}: {folder} is a file, not a folder")
            break
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            again = " or add --overwrite to replace this earlier export" if (out / EXPORT_META).is_file() else ""
            raise UserInputError(f"{out}: folder is not empty; choose a new folder{again} (nothing was written)")
        if not (out / EXPORT_META).is_file():
            raise UserInputError(
                f"{out}: not an earlier labeler export (no {EXPORT_META}); refusing to replace it"
            )


def write_spair(
    images: Iterable[LabelledImage],
    keypoint_order: Sequence[str] | Mapping[str, Sequence[str]],
    out_dir: Path,
    config: SPairExportConfig = SPairExportConfig(),
    flip_pairs: Sequence[tuple[str, str]] = (),
) -> SPairExportSummary:
    """Write ``images`` as an SPair-71k-style dataset under ``out_dir``.

    ``keypoint_order`` (one list, or one per category) fixes the keypoint ids: the i-th name is
    id ``str(i)``. ``flip_pairs`` (left/right names) are written per category as id pairs in
    ``labeler_export.json``, so ``labeler eval --flip on`` knows them. Images are split per category into trn/val/test by ``config.split_ratio``
    (seeded, so the same labels always give the same split; splits share no image); every
    unordered pair of images of one category and split with at least one keypoint visible in
    both becomes a pair (source = the name that sorts first). The folder is built next to
    ``out_dir`` and renamed into place, so a failure leaves nothing half-written.
    """
    out = Path(out_dir)
    _check_out_dir(out, config.overwrite)
    images = sorted(images, key=lambda im: im.relative_path)  # names do not depend on input order
    seen_paths = {im.relative_path for im in images}
    if len(seen_paths) != len(images):
        dup = next(im.relative_path for i, im in enumerate(images[1:]) if im.relative_path == images[i].relative_path)
        raise UserInputError(f"{dup}: listed twice")
    categories = sorted({im.category for im in images})
    if isinstance(keypoint_order, Mapping):
        missing = [c for c in categories if c not in keypoint_order]
        if missing:
            raise UserInputError(f"no keypoint order for categor{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)}")
        given = {c: list(keypoint_order[c]) for c in categories}
    else:
        given = {c: list(keypoint_order) for c in categories}
    for cat, names in given.items():
        if len(set(names)) != len(names):
            raise UserInputError(f"keypoint order of {cat!r} repeats a name")
    folder = {c: _folder_name(c) for c in categories}
    if len(set(folder.values())) != len(folder):
        raise UserInputError(f"categories {', '.join(categories)} give the same SPair folder names; rename one")
    # from here on a category is its folder name
    images = [replace(im, category=folder[im.category]) for im in images]
    order = {folder[c]: names for c, names in given.items()}

    entries, skipped = _prepare(images, config, order)
    _assign_splits(entries, config)
    pairs, available = _choose_pairs(entries, order, config)

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_dir(out)
    except OSError as exc:
        raise UserInputError(f"cannot create {out}: {exc.strerror or exc} ({exc.filename or out.parent})") from None
    try:
        for e in entries:
            cat = e.image.category
            (tmp / "JPEGImages" / cat).mkdir(parents=True, exist_ok=True)
            (tmp / "ImageAnnotation" / cat).mkdir(parents=True, exist_ok=True)
            _copy_or_encode(Path(e.image.source_path), tmp / "JPEGImages" / cat / f"{e.name}.jpg",
                            (int(e.image.width), int(e.image.height)), config.jpeg_quality)
            _write_json(tmp / "ImageAnnotation" / cat / f"{e.name}.json", _image_json(e, order[cat]))
        pair_id = 0
        layout: dict[str, list[str]] = {}
        for split in SPLITS:
            (tmp / "PairAnnotation" / split).mkdir(parents=True, exist_ok=True)
            stems = []
            for src, trg, common in pairs[split]:
                pair_id += 1
                stem = f"{pair_id:06d}-{src.name}-{trg.name}:{src.image.category}"
                _write_json(tmp / "PairAnnotation" / split / f"{stem}.json",
                            _pair_json(pair_id, stem, src, trg, common, order[src.image.category]))
                stems.append(stem)
            layout[split] = stems
        rng = random.Random(config.seed)
        for split, stems in layout.items():
            k = min(len(stems), max(1, int(round(len(stems) * SMALL_LAYOUT_SHARE)))) if stems else 0
            small = [stems[i] for i in sorted(rng.sample(range(len(stems)), k))]
            for name, listed in (("large", stems), ("small", small)):
                (tmp / "Layout" / name).mkdir(parents=True, exist_ok=True)
                (tmp / "Layout" / name / f"{split}.txt").write_text(
                    "".join(f"{s}\n" for s in listed), encoding="utf-8")
        image_names = {e.image.relative_path: f"{e.image.category}/{e.name}.jpg" for e in entries}
        meta = {
            "format": "spair-71k",
            "generator": "labeler",
            "coordinates": "integer pixel indices" if config.integer_coords else "pixel indices (float)",
            "seed": config.seed,
            "split_ratio": list(config.split_ratio),
            "max_pairs": config.max_pairs,
            "categories": {folder[c]: {"name": c, "keypoints": given[c], "flip_pairs": _flip_ids(given[c], flip_pairs)}
                           for c in categories},
            "images": {
                f"{e.image.category}/{e.name}.jpg": {"relative_path": e.image.relative_path, "split": e.split}
                for e in entries
            },
        }
        _write_json(tmp / EXPORT_META, meta)
        publish_mode(tmp, out, folder=True)
        replace_dir(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserInputError(f"cannot write {out}: {exc.strerror or exc} ({exc.filename or out})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    warnings = []
    counts = {s: sum(1 for e in entries if e.split == s) for s in SPLITS}
    for s in SPLITS:
        if config.split_ratio[SPLITS.index(s)] > 0 and not pairs[s]:
            warnings.append(f"split {s!r} has no pairs ({counts[s]} image(s)); label more images or change --split-ratio")
    for e in entries:
        x1, y1, x2, y2 = e.bbox
        if max(x2 - x1, y2 - y1) <= 0:
            warnings.append(f"{e.image.relative_path}: box of a single point; PCK against it only accepts exact hits")
    return SPairExportSummary(
        root=out,
        images=counts,
        pairs={s: len(pairs[s]) for s in SPLITS},
        pairs_available=available,
        skipped_images=skipped,
        image_names=image_names,
        warnings=warnings,
    )


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
