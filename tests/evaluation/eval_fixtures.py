"""Tiny benchmark folders in each official layout, built from real photos with exact warps.

Warps are pixel-exact (identity, horizontal flip, integer padding, 90-degree rotation), so a
pixel centre maps to a pixel centre and every expected PCK can be computed by hand. The
oracle matcher knows each image's warp from the base photo and predicts the true position plus
a fixed per-keypoint error, which makes the distances exact too.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from labeler.correspondence.base import Matcher, Prediction, ReferenceState
from labeler.evaluation.images import load_stored_rgb

# Error the oracle adds per keypoint name: |(3,4)| = 5, |(6,-8)| = 10, |(-30,40)| = 50 pixels.
ERRORS = {"0": (0.0, 0.0), "1": (3.0, 4.0), "2": (6.0, -8.0), "3": (-30.0, 40.0)}


@dataclass(frozen=True)
class Warp:
    """A pixel-exact warp of a base photo; ``matrix`` maps base continuous coords to the image's."""

    kind: str
    arg: tuple[int, int] = (0, 0)

    def image(self, base: np.ndarray) -> np.ndarray:
        if self.kind == "id":
            return base.copy()
        if self.kind == "flip":
            return np.ascontiguousarray(base[:, ::-1])
        if self.kind == "pad":
            dx, dy = self.arg
            return np.pad(base, ((dy, 0), (dx, 0), (0, 0)))
        if self.kind == "rot90":
            return np.ascontiguousarray(np.rot90(base))
        raise ValueError(self.kind)

    def matrix(self, base_shape: tuple[int, ...]) -> np.ndarray:
        w = base_shape[1]
        if self.kind == "id":
            return np.eye(3)
        if self.kind == "flip":
            return np.array([[-1.0, 0, w], [0, 1, 0], [0, 0, 1]])
        if self.kind == "pad":
            dx, dy = self.arg
            return np.array([[1.0, 0, dx], [0, 1, dy], [0, 0, 1]])
        if self.kind == "rot90":  # np.rot90: x' = y, y' = W - x
            return np.array([[0.0, 1, 0], [-1, 0, w], [0, 0, 1]])
        raise ValueError(self.kind)


def apply(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    return (np.c_[xy, np.ones(len(xy))] @ matrix.T)[:, :2]


def _key(image: np.ndarray) -> str:
    return f"{image.shape}:{hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()}"


class WarpOracle(Matcher):
    """Knows every image's warp; predicts truth + ERRORS[name]. Records how it was called."""

    method = "oracle"

    def __init__(self, warps: dict[Path, np.ndarray], errors: dict[str, tuple[float, float]] | None = None):
        self._warps = {_key(load_stored_rgb(p)): m for p, m in warps.items()}
        self.errors = ERRORS if errors is None else errors
        self.prepared: list[tuple[str, ...]] = []
        self.batches: list[int] = []
        self.closed = False

    @property
    def signature(self) -> str:
        return "oracle"

    @property
    def device(self) -> str:
        return "cpu"

    def _matrix(self, image: np.ndarray) -> np.ndarray:
        return self._warps[_key(image)]

    def prepare_reference(self, image, points, *, progress=None, should_stop=None) -> ReferenceState:
        names = tuple(points)
        xy = np.array([points[n] for n in names], dtype=np.float64).reshape(-1, 2)
        base = apply(np.linalg.inv(self._matrix(image)), xy)
        self.prepared.append(names)
        return ReferenceState(method="oracle", signature="oracle", names=names, points=xy,
                              image_size=(image.shape[1], image.shape[0]), arrays={"base": base})

    def predict(self, references, images, *, should_stop=None) -> list[Prediction]:
        self.batches.append(len(images))
        ref = references[0]
        out = []
        for image in images:
            xy = apply(self._matrix(image), ref.arrays["base"])
            xy = xy + np.array([self.errors.get(n, (0.0, 0.0)) for n in ref.names]).reshape(-1, 2)
            out.append(Prediction(names=ref.names, xy=xy, confidence=np.ones(len(ref.names))))
        return out

    def close(self) -> None:
        self.closed = True


# Base keypoints at pixel centres (continuous coordinates), ids "0".."3".
BASE_POINTS = {
    "chelsea": {"0": (150.5, 100.5), "1": (200.5, 120.5), "2": (250.5, 150.5), "3": (300.5, 200.5)},
    "astronaut": {"0": (180.5, 90.5), "1": (260.5, 140.5), "2": (300.5, 250.5), "3": (220.5, 330.5)},
}


@dataclass
class Fixture:
    root: Path
    warps: dict[Path, np.ndarray]  # image file -> matrix from its base photo

    def oracle(self, errors=None) -> WarpOracle:
        return WarpOracle(self.warps, errors)


def _save(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".png":
        Image.fromarray(image).save(path)
    else:
        Image.fromarray(image).save(path, quality=95)


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


# SPair: name -> (category, base photo, warp). Four pairs with hand-chosen keypoint sets.
SPAIR_IMAGES = {
    "cat_a": ("cat", "chelsea", Warp("id")),
    "cat_b": ("cat", "chelsea", Warp("flip")),
    "cat_c": ("cat", "chelsea", Warp("pad", (20, 10))),
    "per_a": ("person", "astronaut", Warp("id")),
    "per_b": ("person", "astronaut", Warp("rot90")),
}
SPAIR_PAIRS = [  # (source, target, keypoint ids)
    ("cat_a", "cat_b", ["0", "1", "2", "3"]),
    ("cat_a", "cat_c", ["0"]),
    ("per_a", "per_b", ["2", "3"]),
    ("per_b", "per_a", []),
]


def _box100(points: np.ndarray, size: tuple[int, int]) -> list[int]:
    """A target box whose longer side is exactly 100 px (integer corners, inside the image)."""
    x1 = int(max(0, min(points[:, 0].min() - 0.5, size[0] - 101))) if len(points) else 0
    y1 = int(max(0, min(points[:, 1].min() - 0.5, size[1] - 61))) if len(points) else 0
    return [x1, y1, x1 + 100, y1 + 60]


def build_spair(root: Path, photos: dict[str, np.ndarray]) -> Fixture:
    """SPair-71k layout written by hand (not by the project's writer)."""
    warps: dict[Path, np.ndarray] = {}
    images: dict[str, np.ndarray] = {}
    for name, (cat, photo, warp) in SPAIR_IMAGES.items():
        base = photos[photo]
        img = warp.image(base)
        path = root / "JPEGImages" / cat / f"{name}.jpg"
        _save(img, path)
        images[name] = img
        m = warp.matrix(base.shape)
        warps[path] = m
        kps = {k: apply(m, [xy])[0] for k, xy in BASE_POINTS[photo].items()}
        _write_json(root / "ImageAnnotation" / cat / f"{name}.json", {
            "filename": f"{name}.jpg", "image_width": img.shape[1], "image_height": img.shape[0],
            "image_depth": 3, "category": cat, "bndbox": [0, 0, img.shape[1] - 1, img.shape[0] - 1],
            "kps": {k: [int(v[0] - 0.5), int(v[1] - 0.5)] for k, v in kps.items()},
        })
    names = []
    for pid, (src, trg, ids) in enumerate(SPAIR_PAIRS, start=1):
        cat, photo, _ = SPAIR_IMAGES[src]
        base = photos[photo]
        m_src = SPAIR_IMAGES[src][2].matrix(base.shape)
        m_trg = SPAIR_IMAGES[trg][2].matrix(base.shape)
        pts = np.array([BASE_POINTS[photo][k] for k in ids]).reshape(-1, 2)
        s, t = apply(m_src, pts), apply(m_trg, pts)
        src_img, trg_img = images[src], images[trg]
        stem = f"{pid:06d}-{src}-{trg}:{cat}"
        _write_json(root / "PairAnnotation" / "test" / f"{stem}.json", {
            "pair_id": pid, "filename": stem, "src_imname": f"{src}.jpg", "trg_imname": f"{trg}.jpg",
            "src_imsize": [src_img.shape[1], src_img.shape[0], 3],
            "trg_imsize": [trg_img.shape[1], trg_img.shape[0], 3],
            "src_bndbox": _box100(s, (src_img.shape[1], src_img.shape[0])),
            "trg_bndbox": _box100(t, (trg_img.shape[1], trg_img.shape[0])),
            "src_pose": "Unspecified", "trg_pose": "Unspecified", "category": cat,
            "src_kps": [[int(x - 0.5), int(y - 0.5)] for x, y in s],
            "trg_kps": [[int(x - 0.5), int(y - 0.5)] for x, y in t],
            "kps_ids": ids, "mirror": 0, "viewpoint_variation": 0, "scale_variation": 0,
            "truncation": 0, "occlusion": 0,
        })
        names.append(stem)
    for layout in ("large", "small"):
        (root / "Layout" / layout).mkdir(parents=True, exist_ok=True)
        listed = names if layout == "large" else names[:1]
        (root / "Layout" / layout / "test.txt").write_text("".join(n + "\n" for n in listed))
        for split in ("trn", "val"):
            (root / "Layout" / layout / f"{split}.txt").write_text("")
    return Fixture(root, warps)


# PF-Willow: ten keypoints per pair; source points span 100 x 60 px around the object.
WILLOW_BASE = [(100.5 + 10 * k, 120.5 + (6 * k if k % 2 else 0)) for k in range(10)]
WILLOW_PAIRS = [  # (category, source warp, target warp)
    ("car(G)", Warp("id"), Warp("flip")),
    ("car(G)", Warp("flip"), Warp("pad", (7, 3))),
    ("duck(S)", Warp("id"), Warp("pad", (40, 0))),
]


def build_pf_willow(root: Path, photos: dict[str, np.ndarray]) -> Fixture:
    base = photos["coffee"]
    warps: dict[Path, np.ndarray] = {}
    rows = []
    for i, (cat, ws, wt) in enumerate(WILLOW_PAIRS):
        files = []
        for side, warp in (("a", ws), ("b", wt)):
            rel = f"{cat}/img_{i:03d}{side}.png"
            path = root / rel
            _save(warp.image(base), path)
            warps[path] = warp.matrix(base.shape)
            files.append(f"PF-dataset/{rel}")
        s = apply(ws.matrix(base.shape), WILLOW_BASE)
        t = apply(wt.matrix(base.shape), WILLOW_BASE)
        v = lambda a: [f"{c - 0.5:g}" for c in a]  # noqa: E731 - stored as pixel-centre indices
        rows.append(files + v(s[:, 0]) + v(s[:, 1]) + v(t[:, 0]) + v(t[:, 1]))
    header = ["imageA", "imageB"] + [f"{a}{s}{k}" for s in ("A", "B") for a in ("X", "Y") for k in range(1, 11)]
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "test_pairs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return Fixture(root, warps)


# CUB: id -> (path, class, is_training, base photo, warp, visible part ids)
CUB_IMAGES = {
    1: ("001.Cat/cat_1.jpg", 1, 0, "chelsea", Warp("id"), {"1", "2", "3", "4"}),
    2: ("001.Cat/cat_2.jpg", 1, 1, "chelsea", Warp("flip"), {"1", "2", "3", "4"}),  # train
    3: ("001.Cat/cat_3.jpg", 1, 0, "chelsea", Warp("flip"), {"1", "2", "4"}),
    4: ("001.Cat/cat_4.jpg", 1, 0, "chelsea", Warp("pad", (5, 9)), {"2", "3"}),
    5: ("002.Person/p_5.jpg", 2, 0, "astronaut", Warp("id"), {"1", "3"}),
    6: ("002.Person/p_6.jpg", 2, 0, "astronaut", Warp("rot90"), {"2", "4"}),
}
CUB_PART_OF = {"1": "0", "2": "1", "3": "2", "4": "3"}  # CUB part id -> BASE_POINTS id


def build_cub(root: Path, photos: dict[str, np.ndarray]) -> Fixture:
    warps: dict[Path, np.ndarray] = {}
    lines = {k: [] for k in ("images", "split", "labels", "boxes", "locs")}
    for iid, (rel, cls, train, photo, warp, visible) in CUB_IMAGES.items():
        base = photos[photo]
        img = warp.image(base)
        path = root / "images" / rel
        _save(img, path)
        m = warp.matrix(base.shape)
        warps[path] = m
        lines["images"].append(f"{iid} {rel}")
        lines["split"].append(f"{iid} {train}")
        lines["labels"].append(f"{iid} {cls}")
        lines["boxes"].append(f"{iid} 12.0 20.0 100.0 {60 + iid}.0")  # max side 100 (w)
        for part in range(1, 16):
            pid = str(part)
            if pid in visible:
                x, y = apply(m, [BASE_POINTS[photo][CUB_PART_OF[pid]]])[0]
                lines["locs"].append(f"{iid} {pid} {x - 0.5:.1f} {y - 0.5:.1f} 1")
            else:
                lines["locs"].append(f"{iid} {pid} 0.0 0.0 0")
    write_cub_tables(root, lines)
    (root / "parts" / "parts.txt").write_text("\n".join(f"{i} part {i}" for i in range(1, 16)) + "\n")
    return Fixture(root, warps)


def write_cub_tables(root: Path, lines: dict[str, list[str]]) -> None:
    """CUB-200-2011's five id-keyed text tables from ``lines`` (images, split, labels, boxes, locs)."""
    (root / "parts").mkdir(parents=True, exist_ok=True)
    for name, key in (("images.txt", "images"), ("train_test_split.txt", "split"),
                      ("image_class_labels.txt", "labels"), ("bounding_boxes.txt", "boxes"),
                      ("parts/part_locs.txt", "locs")):
        (root / name).write_text("\n".join(lines[key]) + "\n")
