"""Square crops of the square working image, in the project's continuous pixel convention.

A crop of side ``c`` starting at integer ``(x0, y0)`` covers ``[x0, x0 + c)``; it is resized to
the working side ``R``, so a working-image point ``p`` lands at ``(p - x0) * R / c`` in the
resized crop, and a map computed on the resized crop is pasted back by resizing it to ``c``.
Random draws come in as numbers in ``[0, 1)`` so the caller owns the seeding.
"""

from __future__ import annotations

import math


def start_range(p: float, crop: int, margin: float, side: int, rule: str = "inward") -> tuple[int, int]:
    """Integer crop starts ``[lo, hi]`` that keep ``p`` about ``margin`` px from the crop border.

    ``rule="inward"``: the real ``margin`` is kept and the range rounded inwards, so ``p`` is at
    least ``margin`` px inside the crop. ``rule="truncate"``: Hedlin et al.'s ``crop_image``
    (``utils/optimize_token.py``): the margin is truncated to whole pixels (``int(0.15 * 477)`` =
    71) and both range ends are truncated (``int``; the values are never negative, so floor).
    Either way, where the image border makes the rule impossible the range is clamped into the
    image, so the crop gets as close to the rule as the image allows (as in the authors' code).
    """
    last = side - crop
    if rule == "truncate":
        m = math.floor(margin)
        lo = math.floor(p - crop + m)
        hi = math.floor(p - m)
    elif rule == "inward":
        lo = math.ceil(p + margin - crop)
        hi = math.floor(p - margin)
    else:
        raise ValueError(f"unknown crop-margin rule {rule!r}")
    lo = min(max(lo, 0), last)
    hi = min(max(hi, 0), last)
    if hi < lo:  # only when 2 * margin > crop, which the config forbids
        hi = lo
    return lo, hi


def pick(lo: int, hi: int, u: float) -> int:
    """The integer of ``[lo, hi]`` that uniform ``u`` in [0, 1) selects."""
    return lo + min(int(u * (hi - lo + 1)), hi - lo)


def random_start(
    p: tuple[float, float], crop: int, margin: float, side: int, u: tuple[float, float], rule: str = "inward"
) -> tuple[int, int]:
    """A crop start (x0, y0) around working-image point ``p`` drawn with uniforms ``u``."""
    x0 = pick(*start_range(p[0], crop, margin, side, rule), u[0])
    y0 = pick(*start_range(p[1], crop, margin, side, rule), u[1])
    return x0, y0


def corner_starts(crop: int, side: int) -> list[tuple[int, int]]:
    """The four corner crops, in the authors' order: (0,0), (0,R), (R,0), (R,R) as (x, y) anchors."""
    last = side - crop
    return [(0, 0), (0, last), (last, 0), (last, last)]


def to_crop(p: tuple[float, float], start: tuple[int, int], crop: int, side: int) -> tuple[float, float]:
    """Working-image point -> position in the crop resized to ``side``."""
    s = side / crop
    return (p[0] - start[0]) * s, (p[1] - start[1]) * s
