"""A throw-away project for throughput runs: N photo-sized JPEGs, one labelled reference.

Random-weight models cannot tell content apart, so the images only need realistic sizes and
JPEG decoding cost: smooth random colour fields with a few drawn shapes, 640x480 by default.
The reference (the first image) gets ``keypoints`` points spread over the image; the schema has
no flip pairs, so propagation runs one pose per image (flip-aware matching would double the
keypoints per pass and is measured by the engines' own figures, not here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from labeler.store import Project
from labeler.store.relpaths import relative_to_root
from labeler.store.scanning import find_image_files, probe_files
from labeler.store.testing import pattern

REFERENCE = "img_0000.jpg"


@dataclass(frozen=True)
class BenchProject:
    path: Path  # the project file
    keypoints: tuple[str, ...]
    reference: str  # relative path of the labelled image
    targets: int


def photo(width: int, height: int, seed: int) -> np.ndarray:
    """A smooth colour field with a few filled shapes (something for JPEG to encode)."""
    img = Image.fromarray(pattern(width, height, seed))
    draw = ImageDraw.Draw(img)
    rng = np.random.default_rng(seed + 1)
    for _ in range(6):
        x0, y0 = rng.integers(0, width - 40), rng.integers(0, height - 40)
        w, h = rng.integers(20, max(21, width // 3)), rng.integers(20, max(21, height // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((int(x0), int(y0), int(x0 + w), int(y0 + h)), fill=colour)
    return np.asarray(img)


def keypoint_grid(n: int, width: int, height: int) -> list[tuple[float, float]]:
    """``n`` points on a grid over the central 80% of the image (pixel-centre coordinates)."""
    cols = int(np.ceil(np.sqrt(n * width / height)))
    rows = int(np.ceil(n / cols))
    pts = []
    for i in range(n):
        r, c = divmod(i, cols)
        pts.append((width * (0.1 + 0.8 * (c + 0.5) / cols), height * (0.1 + 0.8 * (r + 0.5) / rows)))
    return pts


def make_bench_project(
    folder: Path, *, targets: int, keypoints: int = 20, size: tuple[int, int] = (640, 480), seed: int = 0
) -> BenchProject:
    """Create ``folder/images`` (1 reference + ``targets`` JPEGs) and ``folder/bench.labeler``."""
    folder = Path(folder)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    width, height = size
    for i in range(targets + 1):
        Image.fromarray(photo(width, height, seed + i)).save(images / f"img_{i:04d}.jpg", quality=90)
    files = find_image_files(images)
    probed, skipped = probe_files([(f, relative_to_root(f, images) or f.name) for f in files], progress=False)
    if skipped:
        raise RuntimeError(f"benchmark images could not be read: {skipped}")
    names = tuple(f"kp{i:02d}" for i in range(keypoints))
    path = folder / "bench.labeler"
    with Project.create(path, images, names, images=probed, force=True) as project:
        ref = project.find_image(REFERENCE)
        assert ref is not None
        project.set_points(ref.id, dict(zip(names, keypoint_grid(keypoints, width, height), strict=True)))
    return BenchProject(path=path, keypoints=names, reference=REFERENCE, targets=targets)
