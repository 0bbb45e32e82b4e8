"""Reading images as the annotator sees them: EXIF orientation applied, always 8-bit RGB.

Shared by the store (sizes, hashes), the engines (pixels) and the GUI (display), so every part
of the program agrees on what pixel (x, y) means. No torch, no Qt.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# Large scans and microscopy tiles are legitimate; still refuse absurd sizes (zip bombs).
Image.MAX_IMAGE_PIXELS = 600_000_000
#: Most pixels decoded at once (after a JPEG's reduced "draft" decode): 150 MP is ~450 MB of RGB.
#: A 560 KB PNG of 24000 x 24000 pixels once cost 6.5 GiB per decode; such a file is refused
#: with a message instead (a JPEG that large still works where a reduced size is asked).
DECODE_MAX_PIXELS = 150_000_000

from labeler.errors import ImageReadError  # noqa: E402
from labeler.parallel import DECODE_BUDGET  # noqa: E402


@dataclass(frozen=True)
class ImageInfo:
    width: int  # after EXIF orientation, i.e. as displayed
    height: int
    orientation: int  # EXIF orientation tag of the file (1 = none)
    sha256: str
    size_bytes: int
    mtime_ns: int | None = None  # of the file when it was read


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _open(path: Path) -> Image.Image:
    path = Path(path)
    if not path.exists():
        if path.is_symlink():
            raise ImageReadError(f"{path}: broken symbolic link (to {os.readlink(path)}, which does not exist)")
        raise ImageReadError(f"{path}: file not found (moved or deleted?)")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"{path}: image too large to open safely ({exc})") from None
    except OSError as exc:
        what = "damaged or truncated image" if "truncat" in str(exc).lower() else "cannot read"
        raise ImageReadError(f"{path}: {what} ({exc})") from None


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - corrupt EXIF is common and harmless
        return 1


def _to_rgb8(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        if mode.startswith("I;16"):
            arr = arr / 257.0
        else:  # 32-bit int or float: stretch to the data's own range
            lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
            arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")  # L, 1, P, CMYK (Pillow undoes Adobe's inverted CMYK), YCbCr, LAB


def _too_large(path: Path, im: Image.Image) -> ImageReadError:
    w, h = im.size
    return ImageReadError(
        f"{path}: image too large to decode ({w}x{h} = {w * h / 1e6:.0f} megapixels; labeler decodes at most "
        f"{DECODE_MAX_PIXELS / 1e6:.0f}); save a smaller copy"
    )


def _decode_bytes(im: Image.Image) -> int:
    """Memory a decode of ``im`` (at its current, possibly draft, size) may hold at its peak:
    the decoded pixels, the RGB conversion and the numpy copy."""
    w, h = im.size
    return w * h * (len(im.getbands()) + 3 + 3)


def probe(path: Path, *, with_hash: bool = True) -> ImageInfo:
    """Size as displayed, EXIF orientation and content hash; decodes fully to catch truncation."""
    path = Path(path)
    im = _open(path)
    try:
        with im:
            w, h = im.size
            if im.format == "JPEG":
                im.draft("RGB", (max(1, w // 8), max(1, h // 8)))  # fast, still reads every byte
            if im.size[0] * im.size[1] > DECODE_MAX_PIXELS:
                raise _too_large(path, im)  # before the EXIF: a PNG's is read by decoding it all
            with DECODE_BUDGET.hold(_decode_bytes(im)):
                orientation = _orientation(im)
                im.load()
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated/corrupt data raises many types
        raise ImageReadError(f"{path}: damaged or truncated image ({exc})") from None
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    st = path.stat()  # before hashing: a file written meanwhile looks changed at the next check
    return ImageInfo(
        width=w,
        height=h,
        orientation=orientation,
        sha256=file_sha256(path) if with_hash else "",
        size_bytes=st.st_size,
        mtime_ns=st.st_mtime_ns,
    )


def load_rgb(path: Path, *, max_side: int | None = None) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB in display orientation.

    With ``max_side``, JPEGs may be decoded at a reduced scale (never below ``max_side`` on the
    long side) for speed; callers then map coordinates with the ratio of the full size
    (:func:`probe`) to the returned array's size.
    """
    path = Path(path)
    im = _open(path)
    try:
        with im:
            if max_side is not None and im.format == "JPEG":
                w, h = im.size
                scale = max(w, h) / max_side
                if scale >= 2:
                    im.draft("RGB", (int(np.ceil(w / scale)), int(np.ceil(h / scale))))
            if im.size[0] * im.size[1] > DECODE_MAX_PIXELS:
                raise _too_large(path, im)
            with DECODE_BUDGET.hold(_decode_bytes(im)):
                im.load()
                if max_side is not None:
                    # other formats have no reduced decode: halve right after it, before the copies
                    # below (powers of two, the scales callers accept for JPEG drafts too)
                    factor = 1
                    while max(im.size) / (2 * factor) >= max_side and factor < 8:
                        factor *= 2
                    if factor > 1:
                        im = im.reduce(factor)
                im = ImageOps.exif_transpose(im) or im
                rgb = _to_rgb8(im)
                arr = np.asarray(rgb, dtype=np.uint8)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(f"{path}: damaged or truncated image ({exc})") from None
    return np.ascontiguousarray(arr)
