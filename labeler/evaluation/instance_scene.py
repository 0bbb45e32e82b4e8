"""A scene of several objects per image with exact ground truth, for tests and benchmarks.

One object cut from a real photo (scikit-image's ``chelsea``: the cat's face) is pasted at known
places, sizes and left/right flips onto a real background (``grass``), several times per image.
Keypoints are marked once on the cut-out; each pasted copy's truth follows from its paste
(scaled; for a mirrored copy, x mirrored and the left/right names swapped, as a flip pair means).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Keypoints on the 270 x 270 cut-out (chelsea rows 20..290, columns 110..380).
KEYPOINTS = {"left_eye": (60.0, 95.0), "right_eye": (205.0, 115.0), "nose": (150.0, 215.0), "brow": (130.0, 40.0)}
FLIP_PAIRS = (("left_eye", "right_eye"),)
CUT = (20, 290, 110, 380)  # rows, columns of chelsea
SIZE = (480, 360)  # every image, width x height

#: image name -> pasted copies (x, y, side, mirrored); the first copy of the first image is the
#: one a person labels.
LAYOUT = {
    "ref.png": [(40, 60, 150, False), (260, 150, 120, True)],
    "t1.png": [(20, 40, 120, False), (250, 120, 160, True)],
    "t2.png": [(300, 20, 130, True), (60, 180, 110, False), (200, 210, 100, False)],
}


@dataclass(frozen=True)
class PastedObject:
    image: str
    box: tuple[float, float, float, float]  # x, y, w, h
    points: dict[str, tuple[float, float]]
    mirrored: bool


def _cutout() -> np.ndarray:
    from skimage import data

    r0, r1, c0, c1 = CUT
    return data.chelsea()[r0:r1, c0:c1]


def _background() -> np.ndarray:
    from PIL import Image
    from skimage import data

    grass = Image.fromarray(data.grass()).convert("RGB").resize(SIZE, Image.Resampling.BILINEAR)
    return np.asarray(grass).copy()


def truth_points(x: float, y: float, side: float, mirrored: bool) -> dict[str, tuple[float, float]]:
    scale = side / (CUT[1] - CUT[0])
    swap = {a: b for a, b in FLIP_PAIRS} | {b: a for a, b in FLIP_PAIRS}
    out = {}
    for name, (px, py) in KEYPOINTS.items():
        if mirrored:
            out[swap.get(name, name)] = (x + side - px * scale, y + py * scale)
        else:
            out[name] = (x + px * scale, y + py * scale)
    return out


def make_scene(folder: Path, layout: dict[str, list[tuple[int, int, int, bool]]] | None = None) -> list[PastedObject]:
    """Write the images into ``folder``; every pasted object with its truth, in layout order."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cut = Image.fromarray(_cutout())
    objects = []
    for name, copies in (layout or LAYOUT).items():
        canvas = Image.fromarray(_background())
        for x, y, side, mirrored in copies:
            piece = cut.resize((side, side), Image.Resampling.LANCZOS)
            if mirrored:
                piece = piece.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            canvas.paste(piece, (x, y))
            objects.append(PastedObject(name, (float(x), float(y), float(side), float(side)), truth_points(x, y, side, mirrored), mirrored))
        canvas.save(folder / name)
    return objects


@dataclass(frozen=True)
class SceneResult:
    pck: tuple[float, ...]  # per evaluated instance (every pasted object but the labelled one)
    ap: float  # COCO keypoint AP (OKS 0.50:0.95), pycocotools
    seconds: float  # propagation wall time
    instances: int  # instances predicted


def run_scene(folder: Path, *, with_boxes: bool = True, batch_size: int = 4) -> tuple[SceneResult, object]:
    """Make the scene, label the first object, give every object its box (``with_boxes``), propagate
    with the classical matcher and score every other object. Returns (result, the open Project)."""
    import time

    from labeler.evaluation.instance_metrics import coco_oks_ap, pck
    from labeler.propagation import PropagationConfig, propagate
    from labeler.store import Project
    from labeler.store.relpaths import relative_to_root
    from labeler.store.scanning import find_image_files, probe_files

    folder = Path(folder)
    objects = make_scene(folder / "images")
    root = folder / "images"
    probed, _ = probe_files([(f, relative_to_root(f, root) or f.name) for f in find_image_files(root)], progress=False)
    project = Project.create(folder / "scene.labeler", root, tuple(KEYPOINTS), (), FLIP_PAIRS, images=probed)
    ids = {im.path: im.id for im in project.list_images()}
    labelled = objects[0]
    made = []
    for k, obj in enumerate(objects):
        if k == 0:
            project.set_points(ids[obj.image], dict(obj.points))
            (first,) = project.instances(ids[obj.image])
            inst = project.set_box(first.id, obj.box) if with_boxes else first
        else:
            inst = project.add_instance(ids[obj.image], box=obj.box if with_boxes else None)
        made.append(inst.id)
    started = time.perf_counter()
    config = PropagationConfig(method="classical", batch_size=batch_size)
    summary = propagate(project, config)
    seconds = time.perf_counter() - started
    rows: dict[int, dict[str, tuple[float, float, float]]] = {}
    for p in project.all_points(statuses=["predicted"]):
        if p.x is not None and p.y is not None:
            rows.setdefault(p.instance_id or -1, {})[p.name] = (p.x, p.y, p.confidence or 0.0)
    scores, truth, preds = [], [], []
    for k, obj in enumerate(objects):
        if obj is labelled:
            continue
        got = rows.get(made[k], {}) if with_boxes else rows.get(project.instances(ids[obj.image])[0].id, {})
        pts = {n: (x, y) for n, (x, y, _) in got.items()}
        scores.append(pck(pts, obj.points, obj.box))
        truth.append((ids[obj.image], obj.box, obj.points))
        if pts:
            preds.append((ids[obj.image], pts, float(np.mean([c for _, _, c in got.values()]))))
    names = tuple(KEYPOINTS)
    sizes = {i: SIZE for i in ids.values()}
    ap = coco_oks_ap(names, truth, preds, sizes)
    del labelled
    return SceneResult(tuple(scores), ap, seconds, len(objects) - 1 if with_boxes else summary.predicted_images), project
