"""From score maps to points: argmax, window soft-argmax, and confidence measures.

Shared by every engine so that refinement and confidence mean the same thing everywhere.
Maps are ``(N, H, W)`` tensors on a grid whose cell ``(row j, col i)`` has its centre at
``(i + 0.5, j + 0.5)`` in grid units; all returned points use that continuous convention.
"""

from __future__ import annotations

import torch


def argmax_2d(maps: torch.Tensor) -> torch.Tensor:
    """``(N, 2)`` float (x, y) centres of each map's maximum."""
    n, h, w = maps.shape
    flat = maps.reshape(n, h * w).argmax(dim=1)
    ys = torch.div(flat, w, rounding_mode="floor")
    xs = flat - ys * w
    return torch.stack([xs, ys], dim=1).to(torch.float64) + 0.5


def window_soft_argmax(
    maps: torch.Tensor, window: int = 11, temperature: float = 0.02, peak_xy: torch.Tensor | None = None
) -> torch.Tensor:
    """Sub-pixel peaks: softmax(score / temperature) over a ``window`` x ``window`` patch around the argmax.

    Cells of the window that fall outside the map are ignored (GeoAware-SC's refinement).
    ``peak_xy``: the maps' :func:`argmax_2d` when the caller has it already.
    """
    n, h, w = maps.shape
    peak = ((argmax_2d(maps) if peak_xy is None else peak_xy) - 0.5).round().long()  # integer (col, row)
    r = window // 2
    offsets = torch.arange(-r, r + 1, device=maps.device)
    cols = peak[:, 0:1] + offsets[None, :]  # (N, win)
    rows = peak[:, 1:2] + offsets[None, :]
    valid = ((cols >= 0) & (cols < w))[:, None, :] & ((rows >= 0) & (rows < h))[:, :, None]
    cc = cols.clamp(0, w - 1)[:, None, :].expand(n, window, window)
    rr = rows.clamp(0, h - 1)[:, :, None].expand(n, window, window)
    idx = (rr * w + cc).reshape(n, -1)
    vals = maps.reshape(n, -1).gather(1, idx).to(torch.float64) / temperature
    vals = vals.masked_fill(~valid.reshape(n, -1), float("-inf"))
    weights = torch.softmax(vals, dim=1)
    x = (weights * (cc.reshape(n, -1).to(torch.float64) + 0.5)).sum(1)
    y = (weights * (rr.reshape(n, -1).to(torch.float64) + 0.5)).sum(1)
    return torch.stack([x, y], dim=1)


def _outside_radius(maps: torch.Tensor, peak_xy: torch.Tensor, radius: float) -> torch.Tensor:
    n, h, w = maps.shape
    ys = torch.arange(h, device=maps.device, dtype=torch.float64) + 0.5
    xs = torch.arange(w, device=maps.device, dtype=torch.float64) + 0.5
    px = peak_xy[:, 0].to(maps.device)[:, None, None]
    py = peak_xy[:, 1].to(maps.device)[:, None, None]
    d2 = (xs[None, None, :] - px) ** 2 + (ys[None, :, None] - py) ** 2
    return d2 > radius**2


def relative_margin(
    maps: torch.Tensor, peak_xy: torch.Tensor, radius: float, upper: float = 1.0
) -> torch.Tensor:
    """Confidence for similarity maps bounded by ``upper`` (cosine similarity: 1).

    ``(s1 - s2) / (upper - s2)`` clipped to [0, 1], where ``s1`` is the best score and ``s2`` the
    best score farther than ``radius`` cells from the peak: the share of the headroom above the
    runner-up that the winner takes. 1 = a unique perfect match, 0 = an equally good match elsewhere.
    """
    n = maps.shape[0]
    flat = maps.reshape(n, -1)  # maxima are exact in the maps' own precision; widen only them
    s1 = flat.max(dim=1).values.to(torch.float64)
    far = _outside_radius(maps, peak_xy, radius).reshape(n, -1)
    s2 = flat.masked_fill(~far, float("-inf")).max(dim=1).values.to(torch.float64)
    s2 = torch.where(torch.isfinite(s2), s2, torch.full_like(s2, -upper))
    conf = (s1 - s2) / (upper - s2).clamp_min(1e-9)
    return conf.clamp(0.0, 1.0)


def mass_near_peak(prob_maps: torch.Tensor, peak_xy: torch.Tensor, radius: float) -> torch.Tensor:
    """Confidence for probability maps (each sums to 1): the mass within ``radius`` of the peak."""
    n = prob_maps.shape[0]
    near = ~_outside_radius(prob_maps, peak_xy, radius)
    mass = (prob_maps.to(torch.float64) * near).reshape(n, -1).sum(1)
    total = prob_maps.to(torch.float64).reshape(n, -1).sum(1).clamp_min(1e-12)
    return (mass / total).clamp(0.0, 1.0)
