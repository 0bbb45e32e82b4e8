"""SPair-71k (Min et al. 2019) and labeler exports of the same layout.

Pairs: the names listed in ``Layout/{layout}/{split}.txt`` (the order Hedlin et al.'s loader
uses), or every file of ``PairAnnotation/{split}/`` sorted by name when there is no Layout
folder (DIFT, GeoAware-SC). Each pair's ``src_kps``/``trg_kps`` are already the co-visible
keypoints; their ids (``kps_ids``) are the keypoint names. Coordinates are integer pixel
indices; +0.5 puts them at pixel centres in the project's convention.

Official threshold (the default, ``bbox``): max side of the target ``trg_bndbox`` in original
pixels (the SPair paper; DIFT's eval_spair.py computes exactly this). GeoAware-SC computes the
same box in padded-resized coordinates, which scales T and distances alike. Hedlin et al.'s
loader instead uses the SOURCE box with both images resized to 512x512 (aspect not kept);
``bbox-src`` gives the source box in original pixels.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image

from labeler.errors import FormatError
from labeler.evaluation.datasets.spair_flips import SPAIR_FLIP_PAIRS
from labeler.evaluation.pairs import EvalDataset, EvalPair, check_images_exist
from labeler.formats import spair as fmt

PROTOCOL = (
    "SPair-71k {split} split, {n} pairs from {source}. Keypoints: the co-visible points stored "
    "with each pair (ids = kps_ids). PCK threshold '{threshold}' (official: max side of the "
    "target bounding box in original pixels)."
)


def _read_pair(path: Path) -> fmt.SPairPair:
    """One pair file; any malformed value is reported with the file's name."""
    try:
        rec = fmt.read_pair(path)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise FormatError(f"{path}: malformed SPair pair annotation ({exc})") from None
    if not all(math.isfinite(v) for xy in (*rec.src_kps, *rec.trg_kps) for v in xy):
        raise FormatError(f"{path}: src_kps/trg_kps hold a non-finite coordinate")
    return rec


def _stored_size(path: Path) -> tuple[int, int] | None:
    """(W, H) from the file header (no decoding); None when unreadable (the run reports it)."""
    try:
        with Image.open(path) as im:
            return im.size
    except Exception:  # noqa: BLE001 - the runner gives the user-facing message per pair
        return None


def _check_sizes(pairs: list[EvalPair], records: dict[str, Path]) -> None:
    """Every image against the size its pair records state, before any engine is built: the
    keypoints index that raster, so a resized or replaced image would be scored wrongly."""
    sizes: dict[Path, tuple[int, int] | None] = {}
    for p in pairs:
        for path, stated in ((p.src_path, p.src_size), (p.trg_path, p.trg_size)):
            if path not in sizes:
                sizes[path] = _stored_size(path)
            actual = sizes[path]
            if stated is not None and actual is not None and tuple(stated) != actual:
                raise FormatError(
                    f"{records[p.pair_id]}: says {path.name} is {stated[0]}x{stated[1]}, but the image "
                    f"is {actual[0]}x{actual[1]} (resized or replaced image?)"
                )


def load(root: Path, split: str = "test", layout: str = "large") -> EvalDataset:
    root = fmt.find_root(Path(root))
    names = fmt.list_pairs(root, split, layout)
    listing = root / "Layout" / layout / f"{split}.txt"
    pairs = []
    records: dict[str, Path] = {}
    for name in names:
        path = fmt.pair_path(root, split, name)
        rec = _read_pair(path)
        records[rec.name] = path
        off = fmt.PIXEL_CENTRE
        pairs.append(
            EvalPair(
                pair_id=rec.name,
                category=rec.category,
                src_path=fmt.image_path(root, rec.category, rec.src_imname),
                trg_path=fmt.image_path(root, rec.category, rec.trg_imname),
                names=rec.kps_ids,
                src_xy=[(x + off, y + off) for x, y in rec.src_kps],
                trg_xy=[(x + off, y + off) for x, y in rec.trg_kps],
                src_bbox=rec.src_bndbox,
                trg_bbox=rec.trg_bndbox,
                src_size=(rec.src_imsize[0], rec.src_imsize[1]),
                trg_size=(rec.trg_imsize[0], rec.trg_imsize[1]),
            )
        )
    if not pairs:
        hint = ""
        if (root / fmt.EXPORT_META).is_file():  # a labeler export: small ones leave val/test empty
            hint = (
                " (an export splits by image, so val and test get pairs only when a category has about 20 "
                "labelled images: evaluate --split trn, or export again with --split-ratio 1,0,0)"
            )
        raise FormatError(f"{root}: the {split} split lists no pairs{hint}")
    check_images_exist(root, pairs)
    _check_sizes(pairs, records)
    source = f"{listing.relative_to(root)}" if listing.is_file() else f"PairAnnotation/{split}/ (sorted)"
    notes = []
    meta = fmt.read_export_meta(root)
    if meta is not None:
        notes.append("labeler export: boxes are spanned by each image's visible keypoints")
        flips = _export_flip_pairs(root, meta)
    else:
        flips = dict(SPAIR_FLIP_PAIRS)
    return EvalDataset(
        name="spair",
        split=split,
        root=root,
        pairs=pairs,
        thresholds=("bbox", "bbox-src", "bbox-kps", "bbox-kps-src", "img"),
        default_threshold="bbox",
        protocol=PROTOCOL.format(split=split, n=len(pairs), source=source, threshold="{threshold}"),
        notes=notes,
        flip_pairs=flips,
    )


def _export_flip_pairs(root: Path, meta: object) -> dict[str, tuple[tuple[str, str], ...]]:
    """The project's flip pairs a labeler export wrote per category (as keypoint ids); exports
    made before they were written have none."""
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    categories = meta.get("categories") if isinstance(meta, dict) else None
    if not isinstance(categories, dict):
        return out
    for cat, entry in categories.items():
        pairs = entry.get("flip_pairs") if isinstance(entry, dict) else None
        if pairs is None:
            continue
        if not (isinstance(pairs, list) and all(isinstance(p, list) and len(p) == 2 and all(isinstance(v, str) for v in p)
                                                for p in pairs)):
            raise FormatError(f"{root / fmt.EXPORT_META}: flip_pairs of {cat!r} must be a list of [id, id] pairs")
        out[str(cat)] = tuple((a, b) for a, b in pairs)
    return out
