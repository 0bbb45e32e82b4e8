"""Matching with dense feature maps, shared by DIFT and the classical matcher.

A feature map ``(C, h, w)`` covers its whole image: cell ``(j, i)`` describes the image point
``((i + 0.5) * W / w, (j + 0.5) * H / h)`` in original pixels (for DIFT the image was squashed to
a square, which this mapping undoes). Between cells the map is read as torch's bilinear
interpolation with ``align_corners=False`` (``nn.Upsample``'s default, which the DIFT authors
used), so one continuous interpolant defines the feature at every original pixel.

Similarity is the cosine between a reference descriptor and that interpolated target feature,
evaluated on a grid of the target (its original pixels in ``paper``, a fixed long side in
``fast``). The straightforward way, upsampling a 1280-channel map to full resolution, is
avoided without changing the result:

* the dot product commutes with bilinear upsampling (both are linear), so it is computed at
  low resolution and the ``(K, h, w)`` dot maps are upsampled;
* the norm of an interpolated feature needs only the Gram terms of the 2x2 cells it mixes
  (``|f|^2`` and the horizontal, vertical and both diagonal neighbour products), also computed
  at low resolution and combined separably with the interpolation weights.

Cost: ``O(C*h*w)`` + ``O(K*H*W)`` instead of ``O(C*H*W)``.

Several references: per keypoint, the similarity maps of every reference that has it are
combined per pixel, by max (best-of, default: the closest-looking example wins) or mean
(consensus). Views of one reference (the classical matcher's scales) are always combined by max.

Confidence: :func:`peaks.relative_margin` on the combined cosine map, with an exclusion radius of
``margin_radius`` (5%) of the grid's long side: ``(s1 - s2) / (1 - s2)``, the share of the
headroom above the best match elsewhere that the peak takes. 1 = a perfect match with no
competitor; 0 = an equally good match at least 5% of the image away (e.g. the other eye, the
other wheel). It ranks the review queue; it is not a calibrated probability.
"""

from __future__ import annotations

import contextlib
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from labeler.correspondence import peaks
from labeler.correspondence.base import (
    DeviceOutOfMemory,
    Matcher,
    Prediction,
    ProgressFn,
    ReferenceState,
    StopFn,
    check_image,
    check_points,
    check_stop,
)
from labeler.correspondence.config import MatchSettings
from labeler.correspondence.device import is_out_of_memory
from labeler.errors import UserInputError

#: Upper bound on similarity-map elements held at once (keypoints are processed in chunks).
MAX_MAP_ELEMENTS = 1 << 23


# --------------------------------------------------------------------------- grids and sampling


def match_grid(image_size: tuple[int, int], side: int | None) -> tuple[int, int]:
    """``(Wg, Hg)`` of the grid similarity is evaluated on: original pixels, or long side ``side``."""
    w, h = image_size
    if side is None:
        return int(w), int(h)
    s = side / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


def sample_descriptors(
    fmap: torch.Tensor, xy: torch.Tensor | np.ndarray, image_size: tuple[int, int]
) -> torch.Tensor:
    """Features at continuous points ``xy`` (original pixels) of maps ``(..., C, h, w)``.

    Equal to upsampling the map to any size with bilinear ``align_corners=False`` and reading the
    pixel whose centre is the point (``grid_sample`` evaluates that same interpolant, clamped at
    the border like ``F.interpolate``). Returns ``(K, ..., C)``.
    """
    lead = fmap.shape[:-3]
    c, h, w = fmap.shape[-3:]
    maps = fmap.reshape(-1, c, h, w)
    pts = torch.as_tensor(np.asarray(xy, dtype=np.float64), device=fmap.device)
    width, height = image_size
    grid = torch.stack([2.0 * pts[:, 0] / width - 1.0, 2.0 * pts[:, 1] / height - 1.0], dim=1)
    grid = grid.to(maps.dtype)[None, None].expand(maps.shape[0], 1, -1, 2)
    out = F.grid_sample(maps, grid, mode="bilinear", padding_mode="border", align_corners=False)
    out = out[:, :, 0, :].permute(2, 0, 1)  # (K, V, C)
    return out.reshape(out.shape[0], *lead, c)


def _interp_weights(
    n_in: int, n_out: int, align_corners: bool, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """torch's bilinear source indices and weights along one axis (``i0, i1, w0, w1``)."""
    dst = torch.arange(n_out, device=device, dtype=torch.float64)
    if align_corners:
        scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        src = dst * scale
    else:
        src = ((dst + 0.5) * (n_in / n_out) - 0.5).clamp_min(0.0)
    i0 = src.floor().long().clamp(max=n_in - 1)
    i1 = torch.where(i0 < n_in - 1, i0 + 1, i0)
    w1 = (src - i0.to(torch.float64)).clamp(0.0, 1.0)
    return i0, i1, (1.0 - w1).to(dtype), w1.to(dtype)


def upsampled_norms(
    fmap: torch.Tensor, out_hw: tuple[int, int], align_corners: bool = False
) -> torch.Tensor:
    """``|bilinear_upsample(fmap)|`` at every output pixel, ``(H, W)``, from low-resolution Gram terms."""
    c, h, w = fmap.shape
    f = fmap.float()
    fp = F.pad(f[None], (0, 1, 0, 1), mode="replicate")[0]  # clamped right/bottom neighbours
    right, down, diag = fp[:, :h, 1:], fp[:, 1:, :w], fp[:, 1:, 1:]
    n = (f * f).sum(0)
    hor = (f * right).sum(0)
    ver = (f * down).sum(0)
    d1 = (f * diag).sum(0)
    d2 = (right * down).sum(0)
    out_h, out_w = out_hw
    x0, x1, a, b = _interp_weights(w, out_w, align_corners, f.dtype, f.device)
    # Along x: per low-res row, the squared norm of the row mix and its product with the next row.
    row_n = a**2 * n[:, x0] + b**2 * n[:, x1] + 2 * a * b * hor[:, x0]
    row_v = a**2 * ver[:, x0] + b**2 * ver[:, x1] + a * b * (d1[:, x0] + d2[:, x0])
    y0, y1, c0, c1 = _interp_weights(h, out_h, align_corners, f.dtype, f.device)
    c0, c1 = c0[:, None], c1[:, None]
    sq = c0**2 * row_n[y0] + c1**2 * row_n[y1] + 2 * c0 * c1 * row_v[y0]
    return sq.clamp_min(0.0).sqrt()


def upsampled_cosine(
    desc: torch.Tensor,
    fmap: torch.Tensor,
    out_hw: tuple[int, int],
    *,
    norms: torch.Tensor | None = None,
    align_corners: bool = False,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Cosine similarity of descriptors ``(M, C)`` with ``fmap (C, h, w)`` upsampled to ``out_hw``.

    Equals ``F.cosine_similarity(F.interpolate(fmap, out_hw, mode="bilinear"), desc)`` within
    float tolerance, without the ``(C, H, W)`` intermediate.
    """
    c, h, w = fmap.shape
    f = fmap.float()
    d = desc.float()
    dots = (d @ f.reshape(c, h * w)).reshape(-1, 1, h, w)
    dots = F.interpolate(dots, size=out_hw, mode="bilinear", align_corners=align_corners)[:, 0]
    if norms is None:
        norms = upsampled_norms(f, out_hw, align_corners)
    dnorm = d.norm(dim=1).clamp_min(eps)[:, None, None]
    return dots / (norms.clamp_min(eps)[None] * dnorm)


# --------------------------------------------------------------------------- locating points


def _combine(maps: torch.Tensor, owner: torch.Tensor, n: int, how: str) -> torch.Tensor:
    """Per-pixel max or mean of the maps that share an owner; ``(n, H, W)``."""
    if maps.shape[0] == n and torch.equal(owner, torch.arange(n, device=owner.device)):
        return maps
    out = torch.zeros((n, *maps.shape[1:]), dtype=maps.dtype, device=maps.device)
    index = owner.view(-1, *([1] * (maps.dim() - 1))).expand_as(maps)
    return out.scatter_reduce_(0, index, maps, "amax" if how == "max" else "mean", include_self=False)


def locate(
    fmap: torch.Tensor,
    desc: torch.Tensor,
    view_owner: torch.Tensor,
    ref_owner: torch.Tensor,
    n_points: int,
    image_size: tuple[int, int],
    settings: MatchSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(n_points, 2)`` in original target pixels and confidences ``(n_points,)``.

    ``desc (M, C)``: unit descriptors; row ``m`` is one view (scale) of one keypoint in one
    reference. ``view_owner[m]`` numbers that (keypoint, reference) pair, ``ref_owner[pair]`` the
    keypoint. Views of a pair are combined by per-pixel max (the best-matching scale); pairs of a
    keypoint (its references) by ``settings.combine``. Then the peak: argmax, optionally window
    soft-argmax; confidence = :func:`peaks.relative_margin` with radius ``margin_radius`` x the
    grid's long side.
    """
    width, height = image_size
    gw, gh = match_grid(image_size, settings.match_side)
    norms = upsampled_norms(fmap, (gh, gw))
    radius = settings.margin_radius * max(gw, gh)
    xy = np.zeros((n_points, 2))
    conf = np.zeros(n_points)
    kp_of_row = ref_owner[view_owner]
    rows_of = [torch.nonzero(kp_of_row == k).flatten() for k in range(n_points)]
    per_chunk = max(1, MAX_MAP_ELEMENTS // (gw * gh))
    k = 0
    while k < n_points:
        first, total = k, len(rows_of[k])
        k += 1
        while k < n_points and total + len(rows_of[k]) <= per_chunk:
            total += len(rows_of[k])
            k += 1
        sel = torch.cat(rows_of[first:k])
        cos = upsampled_cosine(desc[sel], fmap, (gh, gw), norms=norms)
        pairs, pair_idx = torch.unique(view_owner[sel], return_inverse=True)
        per_pair = _combine(cos, pair_idx, len(pairs), "max")
        maps = _combine(per_pair, ref_owner[pairs] - first, k - first, settings.combine)
        peak = peaks.argmax_2d(maps)
        if settings.refine == "soft_argmax":
            pos = peaks.window_soft_argmax(maps, settings.soft_window, settings.soft_temperature, peak)
        else:
            pos = peak
        c = peaks.relative_margin(maps, peak, radius)
        pos = pos.cpu().numpy() * np.array([width / gw, height / gh])
        xy[first:k] = pos
        conf[first:k] = c.cpu().numpy()
    return xy, conf


# --------------------------------------------------------------------------- pose (flip) distance

#: Long side, in cells, of the maps compared for the pose choice (larger maps are average-pooled:
#: the comparison is all cells against all cells). The fusion grid (60) is compared as it is.
POSE_MAX_SIDE = 64


def pose_map(fmap: torch.Tensor) -> torch.Tensor:
    """``(C, h, w)`` unit-length cells for :func:`mutual_nn_distance`, at most POSE_MAX_SIDE cells a side."""
    c, h, w = fmap.shape
    if max(h, w) > POSE_MAX_SIDE:
        s = POSE_MAX_SIDE / max(h, w)
        fmap = F.adaptive_avg_pool2d(fmap[None].float(), (max(1, round(h * s)), max(1, round(w * s))))[0]
    return F.normalize(fmap.float(), dim=0)


def mutual_nn_distance(ref: torch.Tensor, target: torch.Tensor) -> float:
    """Mean Euclidean distance between the cells of two maps that are each other's nearest
    neighbour (GeoAware-SC's ``get_distance_mutual_nn``), cells compared as unit vectors; NaN
    when no pair is mutual. Smaller = the two images look more alike, pose included."""
    a = F.normalize(ref.reshape(ref.shape[0], -1).float(), dim=0)
    b = F.normalize(target.reshape(target.shape[0], -1).float(), dim=0)
    sim = a.T @ b  # (n, m) cosines
    best, to_b = sim.max(dim=1)
    to_a = sim.argmax(dim=0)
    mutual = to_a[to_b] == torch.arange(a.shape[1], device=sim.device)
    if not bool(mutual.any()):
        return float("nan")
    dist = torch.sqrt(torch.clamp(2.0 - 2.0 * best[mutual], min=0.0))
    return float(dist.mean())


# --------------------------------------------------------------------------- the shared engine


@contextlib.contextmanager
def translate_oom(where: str) -> Iterator[None]:
    """Accelerator out-of-memory becomes DeviceOutOfMemory (the caller halves the batch or uses the CPU)."""
    try:
        yield
    except DeviceOutOfMemory:
        raise
    except (RuntimeError, MemoryError) as exc:
        if isinstance(exc, MemoryError) or not is_out_of_memory(exc):
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise DeviceOutOfMemory(
            f"the accelerator ran out of memory during {where}; use a smaller batch or --device cpu"
        ) from exc


@dataclass
class _Query:
    """Every reference's descriptors, stacked for one pass over a target."""

    names: tuple[str, ...]
    desc: torch.Tensor  # (M, C)
    view_owner: torch.Tensor  # (M,) -> (keypoint, reference) pair
    ref_owner: torch.Tensor  # (P,) -> keypoint index


class DenseFeatureMatcher(Matcher):
    """Reference = descriptors sampled at the keypoints; prediction = cosine-similarity peak.

    Subclasses provide feature maps (:meth:`_feature_maps`) and signatures. Reference state
    arrays: ``descriptors (K, V, C)`` float32, unit length, ``V`` views per keypoint (DIFT: 1;
    classical: one per reference scale).
    """

    def __init__(self, settings: MatchSettings, batch_size: int) -> None:
        self.settings = settings
        self.batch_size = batch_size

    # -- what subclasses provide

    @property
    @abstractmethod
    def reference_signature(self) -> str:
        """Identifies what shapes reference descriptors; states must carry it to be combined."""

    @abstractmethod
    def _feature_maps(self, images: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """One float32 ``(C, h, w)`` map per image, on :attr:`device`."""

    def _reference_maps(self, image: np.ndarray) -> torch.Tensor:
        """``(V, C, h, w)`` maps of the reference image (views are alternatives, e.g. scales)."""
        return self._feature_maps([image])[0][None]

    def _reference_meta(self) -> dict:
        return {}

    # -- the interface

    def prepare_reference(
        self,
        image: np.ndarray,
        points: Mapping[str, tuple[float, float]],
        *,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> ReferenceState:
        size = check_image(image, "reference image")
        names, xy = check_points(points, size)
        check_stop(should_stop)
        if progress is not None:
            progress(0, 1)
        image_arrays = {}
        with torch.inference_mode(), translate_oom("reference feature extraction"):
            maps = self._reference_maps(image)
            desc = F.normalize(sample_descriptors(maps, xy, size).float(), dim=-1)
            if self.pose_criterion == "mutual_nn":
                image_arrays["pose_map"] = pose_map(maps[0]).cpu().numpy().astype(np.float16)
        if progress is not None:
            progress(1, 1)
        return ReferenceState(
            method=self.method,
            signature=self.reference_signature,
            names=names,
            points=xy,
            image_size=size,
            arrays={"descriptors": desc.cpu().numpy().astype(np.float32)},
            meta=self._reference_meta(),
            image_arrays=image_arrays,
        )

    @property
    def pose_criterion(self) -> str:
        return self.settings.pose

    def _query(self, references: Sequence[ReferenceState]) -> _Query:
        if not references:
            raise UserInputError("prediction needs at least one reference")
        names: list[str] = []
        for ref in references:
            if ref.method != self.method or ref.signature != self.reference_signature:
                raise UserInputError(
                    f"a reference was prepared with different settings ({ref.method}, "
                    f"{ref.signature}) than this {self.method} engine ({self.reference_signature}); "
                    "prepare it again with the current engine"
                )
            names += [n for n in ref.names if n not in names]
        if not names:
            raise UserInputError("prediction needs at least one reference keypoint")
        index = {n: i for i, n in enumerate(names)}
        rows, view_owner, ref_owner = [], [], []
        for ref in references:
            if not ref.names:  # a whole-image state (pose map only)
                continue
            desc = np.asarray(ref.arrays["descriptors"], dtype=np.float32)
            for k, name in enumerate(ref.names):
                pair = len(ref_owner)
                ref_owner.append(index[name])
                rows.append(desc[k])
                view_owner += [pair] * desc.shape[1]
        dev = self.device
        return _Query(
            names=tuple(names),
            desc=torch.as_tensor(np.concatenate(rows), device=dev),
            view_owner=torch.as_tensor(view_owner, dtype=torch.long, device=dev),
            ref_owner=torch.as_tensor(ref_owner, dtype=torch.long, device=dev),
        )

    def predict(
        self,
        references: Sequence[ReferenceState],
        images: Sequence[np.ndarray],
        *,
        should_stop: StopFn | None = None,
    ) -> list[Prediction]:
        query = self._query(references)
        sizes = [check_image(im, f"target image {i}") for i, im in enumerate(images)]
        poses = self._pose_maps(references)
        out: list[Prediction] = []
        for start in range(0, len(images), self.batch_size):
            check_stop(should_stop)
            batch = images[start : start + self.batch_size]
            with torch.inference_mode(), translate_oom("prediction"):
                maps = self._feature_maps(batch)
                for fmap, size in zip(maps, sizes[start : start + len(batch)]):
                    xy, conf = locate(
                        fmap, query.desc, query.view_owner, query.ref_owner,
                        len(query.names), size, self.settings,
                    )
                    meta = {}
                    if poses:
                        target = pose_map(fmap)
                        done: dict[int, float] = {}
                        for p in poses:
                            if p is not None and id(p) not in done:
                                done[id(p)] = mutual_nn_distance(p, target)
                        meta["pose_distances"] = [float("nan") if p is None else done[id(p)] for p in poses]
                    out.append(Prediction(names=query.names, xy=xy, confidence=conf, meta=meta))
        return out

    def _pose_maps(self, references: Sequence[ReferenceState]) -> list[torch.Tensor | None]:
        """Each reference's pose map on the device (None where it has none); [] unless the pose
        criterion is ``mutual_nn``. Identical maps (one image's keypoints) are moved once."""
        if self.pose_criterion != "mutual_nn":
            return []
        moved: dict[int, torch.Tensor] = {}
        out: list[torch.Tensor | None] = []
        for ref in references:
            array = ref.image_arrays.get("pose_map")
            if array is None or np.ndim(array) != 3:
                out.append(None)
                continue
            key = id(array)
            if key not in moved:
                moved[key] = torch.as_tensor(np.asarray(array, dtype=np.float32), device=self.device)
            out.append(moved[key])
        if all(p is None for p in out):
            return []
        return out
