"""Benchmark images read the way their annotations were made: pixels as stored, no EXIF rotation.

The project's own images are shown upright (:func:`labeler.imaging.load_rgb` applies the EXIF
orientation tag), but benchmark keypoints index the stored raster: SPair-71k, PF-Willow and
CUB-200-2011 were annotated on it, and every public loader reads them with
``PIL.Image.open(path).convert("RGB")`` (DIFT, Hedlin et al., GeoAware-SC, CATs). A Flickr photo
carrying an orientation tag would otherwise be turned by 90 degrees under its own keypoints.
A ``labeler export --pairs`` folder holds upright images without orientation tags, so it reads
the same either way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from labeler.errors import ImageReadError


def load_stored_rgb(path: Path) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB of the stored raster (EXIF orientation ignored, alpha dropped)."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not an image" if path.is_dir() else "file not found"
        raise ImageReadError(f"{path}: {what}")
    try:
        with Image.open(path) as im:
            im.load()
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file Pillow can read") from None
    except Exception as exc:  # noqa: BLE001 - truncated/corrupt data raises many types
        raise ImageReadError(f"{path}: damaged or truncated image ({exc})") from None
    return np.ascontiguousarray(rgb)
