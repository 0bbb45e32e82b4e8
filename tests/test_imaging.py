"""Reading images as the annotator sees them: orientation, bit depth, colour modes, broken files."""

from __future__ import annotations

import numpy as np
import pytest

from labeler.errors import ImageReadError
from labeler.imaging import file_sha256, is_image_path, load_rgb, probe
from labeler.store.testing import pattern, write_image


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp", ".tif", ".webp", ".JPEG"])
def test_formats_load_as_rgb8(tmp_path, suffix):
    path = write_image(tmp_path / f"Ünï cøde{suffix}", "rgb", (40, 30))
    info = probe(path)
    assert (info.width, info.height, info.orientation) == (40, 30, 1)
    assert info.sha256 == file_sha256(path) and info.size_bytes == path.stat().st_size
    arr = load_rgb(path)
    assert arr.shape == (30, 40, 3) and arr.dtype == np.uint8 and arr.flags.c_contiguous
    if suffix in (".png", ".bmp", ".tif"):  # lossless
        assert np.array_equal(arr, pattern(40, 30, seed=0))


@pytest.mark.parametrize(("kind", "k"), [("exif6", -1), ("exif8", 1)])
def test_exif_orientation_is_applied(tmp_path, kind, k):
    rotated = write_image(tmp_path / "r.jpg", kind, (60, 40))
    plain = write_image(tmp_path / "p.jpg", "rgb", (60, 40))  # same pixels, no EXIF
    info = probe(rotated)
    assert (info.width, info.height) == (40, 60)
    assert info.orientation == (6 if kind == "exif6" else 8)
    arr = load_rgb(rotated)
    assert arr.shape == (60, 40, 3)
    # 6 = shown turned 90 degrees clockwise, 8 = counter-clockwise
    assert np.array_equal(arr, np.rot90(load_rgb(plain), k=k))


def test_grayscale_becomes_three_equal_channels(tmp_path):
    arr = load_rgb(write_image(tmp_path / "g.png", "gray", (20, 10)))
    assert arr.shape == (10, 20, 3)
    assert np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2])


def test_rgba_is_composited_on_white(tmp_path):
    arr = load_rgb(write_image(tmp_path / "a.png", "rgba", (40, 10)))
    assert arr.shape == (10, 40, 3)
    assert np.all(arr[:, 0] == 255)  # alpha 0 in the first column
    assert np.array_equal(arr[:, -1], pattern(40, 10)[:, -1])  # opaque last column


def test_16_bit_png_is_scaled_to_8_bit(tmp_path):
    path = write_image(tmp_path / "d.png", "gray16", (20, 10))
    arr = load_rgb(path)
    assert arr.dtype == np.uint8 and arr.shape == (10, 20, 3)
    assert np.array_equal(arr[..., 0], pattern(20, 10)[..., 0])  # v*257/257


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    arr = load_rgb(write_image(tmp_path / "c.jpg", "cmyk", (40, 30)))
    assert arr.shape == (30, 40, 3)
    assert np.abs(arr.astype(int) - pattern(40, 30).astype(int)).mean() < 12


@pytest.mark.parametrize(
    ("kind", "size", "message"),
    [
        ("truncated", (200, 150), "damaged or truncated"),  # cut in the pixel data
        ("truncated", (64, 48), "damaged or truncated"),  # cut in the headers
        ("empty", (1, 1), "empty"),
        ("text", (1, 1), "not an image"),
    ],
)
def test_broken_files_raise_a_clear_error(tmp_path, kind, size, message):
    path = write_image(tmp_path / "broken.jpg", kind, size)
    with pytest.raises(ImageReadError, match=message):
        probe(path)
    with pytest.raises(ImageReadError, match=message):
        load_rgb(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageReadError, match="not found"):
        probe(tmp_path / "nope.jpg")
    with pytest.raises(ImageReadError, match="folder"):
        load_rgb(tmp_path)


def test_reduced_decoding_keeps_at_least_max_side(tmp_path):
    path = write_image(tmp_path / "big.jpg", "rgb", (800, 600))
    arr = load_rgb(path, max_side=200)
    assert max(arr.shape[:2]) >= 200 and max(arr.shape[:2]) < 800
    assert arr.shape[1] / arr.shape[0] == pytest.approx(800 / 600, rel=0.02)


def test_probe_without_hash_and_suffix_filter(tmp_path):
    path = write_image(tmp_path / "x.png", "rgb", (8, 8))
    assert probe(path, with_hash=False).sha256 == ""
    assert is_image_path(path) and not is_image_path(tmp_path / ".hidden.png") and not is_image_path(tmp_path / "a.txt")


def test_broken_symlink_says_so(tmp_path):
    import os

    os.symlink(tmp_path / "gone.jpg", tmp_path / "link.jpg")
    with pytest.raises(ImageReadError, match=r"broken symbolic link \(to .*gone.jpg, which does not exist\)"):
        probe(tmp_path / "link.jpg")


def _huge_png(path, side: int) -> None:
    """A side x side RGB PNG of one colour (a few MB on disk, as a hostile file would be) written
    without ever holding the pixels. Deflating 1.7 GB of zeros takes seconds, so one band of rows
    is deflated and its bytes repeated: after a full flush the compressor starts afresh, so every
    band compresses to the same bytes, and the zlib checksum of n zero bytes is (n % 65521) << 16 | 1."""
    import math
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row_bytes = 1 + 3 * side  # filter byte + RGB
    rows = math.gcd(side, 100)
    band = bytes(row_bytes * rows)
    comp = zlib.compressobj(9)
    first = comp.compress(band) + comp.flush(zlib.Z_FULL_FLUSH)  # with the zlib header
    again = comp.compress(band) + comp.flush(zlib.Z_FULL_FLUSH)
    assert comp.compress(band) + comp.flush(zlib.Z_FULL_FLUSH) == again  # the bands repeat exactly
    end = comp.flush()[:-4]  # the final block, without the checksum of only the bands seen here
    n = row_bytes * side
    data = first + again * (side // rows - 1) + end + struct.pack(">I", (n % 65521) << 16 | 1)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.write(chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)))
        fh.write(chunk(b"IDAT", data))
        fh.write(chunk(b"IEND", b""))


def test_a_huge_png_costs_no_gigabytes(tmp_path):
    """24000 x 24000 pixels in ~2 MB: refused with a message by every reader, measured in a child
    process (its peak resident memory), never decoded in full."""
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "huge.png"
    _huge_png(path, 24000)
    assert path.stat().st_size < 4 << 20
    script = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        from labeler.errors import ImageReadError
        from labeler.imaging import load_rgb, probe
        path = Path({str(path)!r})
        for call in (lambda: probe(path), lambda: load_rgb(path, max_side=1024), lambda: load_rgb(path)):
            try:
                call()
                print("decoded")
            except ImageReadError as exc:
                print("refused:", exc)
        try:  # this process's own peak (ru_maxrss keeps the parent's across exec on Linux)
            with open("/proc/self/status") as fh:
                peak = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
        except OSError:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print("maxrss_kb", peak)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["refused"] * 3, out.stdout
    assert "too large" in lines[0]
    rss_mb = int(lines[3].split()[1]) / 1024
    assert rss_mb < 800, rss_mb


def test_large_non_jpeg_images_are_reduced_when_a_small_side_is_asked(tmp_path):
    write_image(tmp_path / "big.png", "rgb", (2400, 1800))
    arr = load_rgb(tmp_path / "big.png", max_side=512)
    assert 512 <= max(arr.shape[:2]) < 2400
    assert arr.shape[1] * 1800 == arr.shape[0] * 2400  # an exact integer reduction keeps the ratio
