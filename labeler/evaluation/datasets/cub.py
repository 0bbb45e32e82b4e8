"""CUB-200-2011 (Wah et al.) with pairs built the way Hedlin et al.'s evaluation builds them.

Layout: ``ROOT/images.txt`` (id path), ``train_test_split.txt`` (id is_training),
``image_class_labels.txt`` (id class), ``bounding_boxes.txt`` (id x y w h),
``parts/parts.txt`` (15 parts), ``parts/part_locs.txt`` (id part x y visible), ``images/``.

Pairs (ubc-vision/LDM_correspondences, eval/cub2011.py): the images of the split (test =
is_training 0) whose class id is at most ``classes`` (their loader's default is 3, i.e. the first
three species; 200 takes every class), and for each class every unordered pair of its images
in images.txt order (``itertools.combinations``: first image = source). Keypoints: the parts
visible in both images; names are the part ids "1".."15". Coordinates are taken as
pixel-centre indices (+0.5 into the project's convention).

Threshold (default ``bbox``): max(w, h) of the target image's bounding_boxes.txt box, original
pixels. Hedlin et al. measure in 512x512 resized images (aspect not kept) and scale that box
side by the x factor only; measuring in original pixels avoids that anisotropy. ``img`` uses
the max side of the target image.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from labeler.errors import FormatError, UserInputError
from labeler.evaluation.pairs import EvalDataset, EvalPair, check_images_exist

PIXEL_CENTRE = 0.5
DEFAULT_CLASSES = 3
_FILES = ("images.txt", "train_test_split.txt", "image_class_labels.txt", "bounding_boxes.txt",
          "parts/part_locs.txt")

PROTOCOL = (
    "CUB-200-2011 {split} images of classes 1..{classes}, every unordered pair within a class "
    "({n} pairs, Hedlin et al.'s construction), parts visible in both images. PCK threshold "
    "'{threshold}' (default: max side of the target bounding box, original pixels)."
)


def find_root(root: Path) -> Path:
    root = Path(root)
    for candidate in (root, root / "CUB_200_2011"):
        if (candidate / "images.txt").is_file():
            return candidate
    raise UserInputError(
        f"{root}: no images.txt here. Point --root at the extracted CUB_200_2011 folder "
        "(holding images.txt, parts/, images/)."
    )


def _rows(path: Path, min_fields: int) -> list[list[str]]:
    if not path.is_file():
        raise FormatError(f"{path}: file not found (is this a complete CUB_200_2011 folder?)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not a readable text file ({exc})") from None
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < min_fields:
            raise FormatError(f"{path}, line {n}: expected at least {min_fields} fields")
        rows.append(fields)
    return rows


def _parsed(path: Path, min_fields: int, convert):
    """Rows of ``path`` through ``convert``; a bad number is reported with the file's name."""
    try:
        return [convert(r) for r in _rows(path, min_fields)]
    except ValueError as exc:
        raise FormatError(f"{path}: a number could not be read ({exc})") from None


def load(root: Path, split: str = "test", classes: int = DEFAULT_CLASSES) -> EvalDataset:
    if split not in ("test", "trn", "train"):
        raise UserInputError("CUB-200-2011 has a test and a train split (--split test or trn)")
    if classes < 1:
        raise UserInputError(f"--cub-classes must be at least 1 (got {classes})")
    root = find_root(Path(root))
    want_training = split != "test"
    paths = {r[0]: r[1] for r in _rows(root / "images.txt", 2)}
    is_training = {r[0]: r[1] == "1" for r in _rows(root / "train_test_split.txt", 2)}
    labels = dict(_parsed(root / "image_class_labels.txt", 2, lambda r: (r[0], int(r[1]))))
    boxes = dict(_parsed(root / "bounding_boxes.txt", 5, lambda r: (r[0], tuple(float(v) for v in r[1:5]))))
    parts: dict[str, dict[str, tuple[float, float]]] = {}
    for iid, part, xy in _parsed(root / "parts" / "part_locs.txt", 5,
                                 lambda r: (r[0], r[1], (float(r[2]), float(r[3])) if r[4] == "1" else None)):
        if xy is not None:
            parts.setdefault(iid, {})[part] = xy
    order = [i for i in paths if is_training.get(i) == want_training and labels.get(i, 0) <= classes]
    missing = [i for i in order if i not in boxes or i not in labels]
    if missing:
        raise FormatError(f"{root}: image id {missing[0]} has no class label or bounding box")
    pairs = []
    for cls in range(1, classes + 1):
        members = [i for i in order if labels[i] == cls]
        for a, b in itertools.combinations(members, 2):
            pa, pb = parts.get(a, {}), parts.get(b, {})
            common = sorted(set(pa) & set(pb), key=int)
            xa, ya, wa, ha = boxes[a]
            xb, yb, wb, hb = boxes[b]
            pairs.append(
                EvalPair(
                    pair_id=f"{a}-{b}",
                    category=Path(paths[a]).parts[0] if len(Path(paths[a]).parts) > 1 else str(cls),
                    src_path=root / "images" / paths[a],
                    trg_path=root / "images" / paths[b],
                    names=common,
                    src_xy=[(pa[k][0] + PIXEL_CENTRE, pa[k][1] + PIXEL_CENTRE) for k in common],
                    trg_xy=[(pb[k][0] + PIXEL_CENTRE, pb[k][1] + PIXEL_CENTRE) for k in common],
                    src_bbox=(xa, ya, xa + wa, ya + ha),
                    trg_bbox=(xb, yb, xb + wb, yb + hb),
                )
            )
    if not pairs:
        raise FormatError(f"{root}: no {split} pairs among classes 1..{classes}")
    check_images_exist(root, pairs)
    mirrored = _part_flip_pairs(root / "parts" / "parts.txt")
    return EvalDataset(
        name="cub",
        split="test" if split == "test" else "trn",
        root=root,
        pairs=pairs,
        thresholds=("bbox", "bbox-src", "bbox-kps", "bbox-kps-src", "img"),
        default_threshold="bbox",
        protocol=PROTOCOL.format(split=split, classes=classes, n=len(pairs), threshold="{threshold}"),
        flip_pairs={p.category: mirrored for p in pairs} if mirrored else {},
    )


def _part_flip_pairs(path: Path) -> tuple[tuple[str, str], ...]:
    """Part ids whose names differ only in "left"/"right" ("7 left eye" / "11 right eye"), from
    parts/parts.txt; none when the file is absent (flip-aware evaluation then says so)."""
    if not path.is_file():
        return ()
    ids: dict[str, str] = {}
    for row in _rows(path, 2):
        ids[" ".join(row[1:]).lower()] = row[0]
    return tuple((pid, ids["right " + name[5:]]) for name, pid in ids.items()
                 if name.startswith("left ") and "right " + name[5:] in ids)
