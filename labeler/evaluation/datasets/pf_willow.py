"""PF-Willow (Ham et al., Proposal Flow) through the test_pairs.csv of Rocco et al.

Layout: ``ROOT/test_pairs.csv`` beside the category folders (``car(G)/``, ``duck(S)/``, ...);
the same list is distributed as ``test_pairs_pf.csv`` (cnngeometric), also accepted.
Each CSV row is ``imageA, imageB`` followed by 10 source x, 10 source y, 10 target x, 10
target y. Image paths carry a leading folder (``PF-dataset/car(G)/Cars_006a.png``) that the
public loaders drop; so do we (and fall back to the path as written). Category = the folder
(10 sub-classes). Keypoint names are the column indices "0".."9". Coordinates are taken as
pixel-centre indices (+0.5 into the project's convention); they come from MATLAB annotations
whose origin is not documented, which could shift the source query by one pixel at most.

Threshold (default ``bbox-kps``): max side of the box spanned by the pair's target keypoints, in
original pixels. CATs' loader (also Hedlin et al.'s, eval/pfwillow.py) takes the target
keypoints too but pads the array with -1 before taking max - min, so it effectively uses
max(x_max, y_max) + 1 (in 512x512 resized coordinates), an inflated threshold that raises PCK;
we do not reproduce it. HPF's and DenseMatching's loaders (pfwillow.py) take the box of the
SOURCE keypoints: ``bbox-kps-src``. ``img`` uses the max side of the target image instead.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from labeler.errors import FormatError, UserInputError
from labeler.evaluation.pairs import EvalDataset, EvalPair

PAIRS_FILES = ("test_pairs.csv", "test_pairs_pf.csv")
NUM_POINTS = 10
PIXEL_CENTRE = 0.5

PROTOCOL = (
    "PF-Willow test pairs ({n}) from test_pairs.csv, all 10 annotated keypoints per pair. "
    "PCK threshold '{threshold}' (default: max side of the box spanned by the target keypoints, "
    "original pixels; NOT the max(x_max, y_max)+1 of the common loader)."
)


def find_pairs_file(root: Path) -> Path:
    """The pair list under ``root`` or its usual sub-folder."""
    root = Path(root)
    for candidate in (root, root / "PF-WILLOW", root / "PF-Willow", root / "pf-willow", root / "PF-dataset"):
        for name in PAIRS_FILES:
            if (candidate / name).is_file():
                return candidate / name
    raise UserInputError(
        f"{root}: no {' or '.join(PAIRS_FILES)} here. Point --root at the PF-Willow folder holding "
        "the pair list and the category folders (car(G)/, duck(S)/, ...)."
    )


def _resolve_image(root: Path, written: str, listing: Path) -> Path:
    parts = Path(written.replace("\\", "/")).parts
    candidates = [root.joinpath(*parts[1:])] if len(parts) > 1 else []
    candidates += [root / written, root.parent / written]
    for c in candidates:
        if c.is_file():
            return c
    raise FormatError(f"{listing}: image {written!r} not found (looked for {candidates[0]})")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load(root: Path, split: str = "test") -> EvalDataset:
    if split != "test":
        raise UserInputError("PF-Willow has only a test split (--split test)")
    path = find_pairs_file(Path(root))
    root = path.parent
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise FormatError(f"{path}: not a readable CSV pair list ({exc})") from None
    if rows and not _is_number(rows[0][2] if len(rows[0]) > 2 else ""):
        rows = rows[1:]  # header: imageA,imageB,XA1..XA10,YA1..YA10,XB1..XB10,YB1..YB10
    pairs = []
    not_finite: list[str] = []
    for line, row in enumerate(rows, start=2):
        if len(row) < 2 + 4 * NUM_POINTS:
            raise FormatError(f"{path}, row {line}: expected 2 image names and {4 * NUM_POINTS} coordinates")
        try:
            v = [float(c) for c in row[2:2 + 4 * NUM_POINTS]]
        except ValueError:
            raise FormatError(f"{path}, row {line}: coordinates must be numbers") from None
        n = NUM_POINTS
        xa, ya, xb, yb = v[:n], v[n:2 * n], v[2 * n:3 * n], v[3 * n:]
        keep = [k for k in range(n) if all(math.isfinite(c[k]) for c in (xa, ya, xb, yb))]
        if len(keep) < n:
            not_finite.append(f"row {line}" + (" (no keypoint left: not scored)" if not keep else ""))
        parts = Path(row[0].replace("\\", "/")).parts
        category = parts[1] if len(parts) > 2 else parts[0] if len(parts) > 1 else "all"
        pairs.append(
            EvalPair(
                pair_id=f"{line - 1:04d}",
                category=category,
                src_path=_resolve_image(root, row[0], path),
                trg_path=_resolve_image(root, row[1], path),
                names=[str(k) for k in keep],
                src_xy=[(xa[k] + PIXEL_CENTRE, ya[k] + PIXEL_CENTRE) for k in keep],
                trg_xy=[(xb[k] + PIXEL_CENTRE, yb[k] + PIXEL_CENTRE) for k in keep],
            )
        )
    if not pairs:
        raise FormatError(f"{path}: no pairs")
    return EvalDataset(
        name="pf-willow",
        split=split,
        root=root,
        pairs=pairs,
        thresholds=("bbox-kps", "bbox-kps-src", "img"),
        default_threshold="bbox-kps",
        protocol=PROTOCOL.format(n=len(pairs), threshold="{threshold}"),
        notes=[f"keypoints that are not numbers (NaN) were left out in {len(not_finite)} pair(s): "
               + ", ".join(not_finite[:3]) + (f" and {len(not_finite) - 3} more" if len(not_finite) > 3 else "")]
        if not_finite else [],
    )
