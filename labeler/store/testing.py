"""Small image files of every awkward kind, for tests across the project (numpy + Pillow only).

    from labeler.store.testing import make_image_folder
    sample = make_image_folder(tmp_path / "images")
    sample.good      # rel path -> (width, height) as displayed
    sample.broken    # rel path -> why it cannot be read

Every image is a smooth random pattern (deterministic per seed) so JPEG stays small and fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

EXIF_ORIENTATION = 0x0112


def pattern(width: int, height: int, seed: int = 0) -> np.ndarray:
    """``(height, width, 3) uint8``: a blurred random field, distinct per seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((max(2, height // 8), max(2, width // 8), 3))
    img = Image.fromarray((coarse * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(img)


def write_image(path: Path, kind: str = "rgb", size: tuple[int, int] = (64, 48), seed: int = 0) -> Path:
    """Write one file of ``kind`` with stored size ``size`` = (width, height).

    Kinds: rgb (format from the suffix), gray, rgba, gray16 (16-bit PNG), cmyk (JPEG),
    exif6 / exif8 (JPEG rotated by EXIF: displayed size is (height, width)), truncated
    (half a JPEG), empty (0 bytes), text (a text file under an image name).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    rgb = pattern(w, h, seed)
    if kind == "rgb":
        Image.fromarray(rgb).save(path)
    elif kind == "gray":
        Image.fromarray(rgb).convert("L").save(path)
    elif kind == "rgba":
        alpha = np.linspace(0, 255, w, dtype=np.uint8)[None, :].repeat(h, 0)
        Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
    elif kind == "gray16":
        arr = (rgb[..., 0].astype(np.uint16) * 257).astype(np.uint16)
        Image.fromarray(arr).save(path)  # mode I;16
    elif kind == "cmyk":
        Image.fromarray(rgb).convert("CMYK").save(path, format="JPEG")
    elif kind in ("exif6", "exif8"):
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = 6 if kind == "exif6" else 8
        Image.fromarray(rgb).save(path, format="JPEG", exif=exif)
    elif kind == "truncated":
        tmp = path.with_name(path.name + ".full")
        Image.fromarray(rgb).save(tmp, format="JPEG")
        data = tmp.read_bytes()
        tmp.unlink()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not an image\n", encoding="utf-8")
    else:
        raise ValueError(f"unknown sample kind {kind!r}")
    return path


@dataclass
class SampleFolder:
    root: Path
    good: dict[str, tuple[int, int]] = field(default_factory=dict)  # rel -> displayed (w, h)
    broken: dict[str, str] = field(default_factory=dict)  # rel -> what is wrong
    ignored: list[str] = field(default_factory=list)  # files that are not images at all / hidden


def make_image_folder(root: Path, *, broken: bool = True) -> SampleFolder:
    """A folder with one image of every kind the store must handle (and, optionally, broken ones)."""
    root = Path(root)
    sample = SampleFolder(root)

    def good(rel: str, kind: str, size: tuple[int, int], shown: tuple[int, int] | None = None) -> None:
        write_image(root / rel, kind, size, seed=len(sample.good))
        sample.good[rel] = shown or size

    good("plain/a.jpg", "rgb", (64, 48))
    good("plain/b.png", "rgb", (50, 40))
    good("formats/gray.png", "gray", (40, 30))
    good("formats/rgba.png", "rgba", (40, 30))
    good("formats/gray16.png", "gray16", (40, 30))
    good("formats/cmyk.jpg", "cmyk", (40, 30))
    good("formats/photo.bmp", "rgb", (32, 24))
    good("formats/photo.TIF", "rgb", (32, 24))
    good("formats/photo.webp", "rgb", (32, 24))
    good("exif/rot6.jpg", "exif6", (60, 40), shown=(40, 60))
    good("exif/rot8.jpeg", "exif8", (60, 40), shown=(40, 60))
    good("Ünïcødé folder with spaces/猫 the cat.jpg", "rgb", (48, 36))
    if broken:
        write_image(root / "broken/truncated.jpg", "truncated", (64, 48))
        write_image(root / "broken/empty.jpg", "empty")
        write_image(root / "broken/notes.jpg", "text")
        sample.broken.update(
            {"broken/truncated.jpg": "truncated", "broken/empty.jpg": "empty", "broken/notes.jpg": "not an image"}
        )
    (root / "README.txt").write_text("not an image", encoding="utf-8")
    write_image(root / ".hidden/secret.jpg", "rgb", (16, 16))
    sample.ignored += ["README.txt", ".hidden/secret.jpg"]
    return sample


#: A small schema with a flip pair and a skeleton, used by tests across the project.
KEYPOINTS = ("nose", "left_eye", "right_eye", "tail")
SKELETON = (("nose", "left_eye"), ("nose", "right_eye"), ("nose", "tail"))
FLIP_PAIRS = (("left_eye", "right_eye"),)


def make_project(folder: Path, *, broken: bool = False, name: str = "test.labeler"):  # noqa: ANN201 - Project
    """A project over :func:`make_image_folder` (``folder/images``), file ``folder/name``.

    Returns ``(project, sample)``; the caller closes the project.
    """
    from labeler.store.project import Project
    from labeler.store.relpaths import relative_to_root
    from labeler.store.scanning import find_image_files, probe_files

    folder = Path(folder)
    sample = make_image_folder(folder / "images", broken=broken)
    files = find_image_files(sample.root)
    probed, _ = probe_files([(f, relative_to_root(f, sample.root) or f.name) for f in files], progress=False)
    project = Project.create(folder / name, sample.root, KEYPOINTS, SKELETON, FLIP_PAIRS, images=probed)
    return project, sample


def copy_project(template: Path, folder: Path, *, name: str = "test.labeler"):  # noqa: ANN201 - Project
    """Copy a closed project made by :func:`make_project` (file and images) and open the copy.

    Much faster than building one per test; the copy finds its images through the relative root.
    """
    import shutil

    from labeler.store.project import Project

    shutil.copytree(template, folder, dirs_exist_ok=True)
    return Project.open(Path(folder) / name)


def edit_behind_labelers_back(path: Path, *statements: str) -> None:
    """Change a closed project file with plain sqlite3, as another tool or the sender of a hostile
    file would (tests of what labeler refuses to trust)."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        for sql in statements:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()
