"""Square crops of the square working image, in the project's continuous pixel convention.

A crop of side ``c`` starting at integer ``(x0, y0)`` covers ``[x0, x0 + c)``; it is resized to
the working side ``R``, so a working-image point ``p`` lands at ``(p - x0) * R / c`` in the
resized crop, and a map computed on the resized crop is pasted back by resizing it to ``c``.
Random draws come in as numbers in ``[0, 1)`` so the caller owns the seeding.
"""

from __future__ import annotations

import math


def start_range(p: float, crop: int, margin: float, side: int) -> tuple[int, int]:
    """Integer crop starts ``[lo, hi]`` that keep ``p`` at least ``margin`` px from the crop border.

    Where the image border makes that impossible the range is clamped into the image, so the crop
    gets as close to the rule as the image allows (as in the authors' code).
    """
    last = side - crop
    lo = math.ceil(p + margin - crop)
    hi = math.floor(p - margin)
    lo = min(max(lo, 0), last)
    hi = min(max(hi, 0), last)
    if hi < lo:  # only when 2 * margin > crop, which the config forbids
        hi = lo
    return lo, hi


def pick(lo: int, hi: int, u: float) -> int:
    """The integer of ``[lo, hi]`` that uniform ``u`` in [0, 1) selects."""
    return lo + min(int(u * (hi - lo + 1)), hi - lo)


def random_start(
    p: tuple[float, float], crop: int, margin: float, side: int, u: tuple[float, float]
) -> tuple[int, int]:
    """A crop start (x0, y0) around working-image point ``p`` drawn with uniforms ``u``."""
    x0 = pick(*start_range(p[0], crop, margin, side), u[0])
    y0 = pick(*start_range(p[1], crop, margin, side), u[1])
    return x0, y0


def corner_starts(crop: int, side: int) -> list[tuple[int, int]]:
    """The four corner crops, in the authors' order: (0,0), (0,R), (R,0), (R,R) as (x, y) anchors."""
    last = side - crop
    return [(0, 0), (0, last), (last, 0), (last, last)]


def to_crop(p: tuple[float, float], start: tuple[int, int], crop: int, side: int) -> tuple[float, float]:
    """Working-image point -> position in the crop resized to ``side``."""
    s = side / crop
    return (p[0] - start[0]) * s, (p[1] - start[1]) * s
