"""A weight-free matcher: dense upright SIFT (OpenCV) through the same matching code as DIFT.

Needs no download, so it works offline and for near-duplicate frames (video, burst shots) where
local appearance is enough, and it gives the tests real image content with known geometry.

Each image becomes a grayscale working image with long side ``work_side`` (aspect kept; smaller
images are enlarged, so content size is measured relative to the image). SIFT descriptors with
orientation 0 (upright: no rotation invariance, no orientation ambiguity) are computed on a grid
of ``step`` working pixels, RootSIFT-normalised (L1, then square root: the cosine becomes the
Hellinger kernel) and laid out as a ``(128, h, w)`` map covering the whole image, exactly like a
DIFT feature map. The reference is described at several SIFT sizes (``reference_scales``), and a
target pixel takes the best of them, so content 0.7x to 1.4x the reference's size still matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from labeler.correspondence.config import (
    ALGORITHM_VERSION,
    CLASSICAL_PRESETS,
    ClassicalConfig,
    config_dict,
    stable_hash,
    with_overrides,
)
from labeler.correspondence.device import resolve_device
from labeler.correspondence.features import DenseFeatureMatcher, match_grid
from labeler.errors import UserInputError

DEFAULT_MODEL = None
METHOD = "classical"


class DenseSift:
    """``(V, 128, h, w)`` RootSIFT maps of an image, one per SIFT size."""

    def __init__(self, config: ClassicalConfig) -> None:
        self.config = config
        self._sift = cv2.SIFT_create()

    def working_image(self, image: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        h, w = gray.shape
        ww, wh = match_grid((w, h), self.config.work_side)
        interp = cv2.INTER_AREA if ww < w else cv2.INTER_CUBIC
        return cv2.resize(gray, (ww, wh), interpolation=interp)

    def grid(self, work_size: tuple[int, int]) -> tuple[int, int, np.ndarray, np.ndarray]:
        """Cell counts and cell centres (OpenCV pixel convention: centre of pixel i is i)."""
        ww, wh = work_size
        gw = max(1, round(ww / self.config.step))
        gh = max(1, round(wh / self.config.step))
        xs = (np.arange(gw) + 0.5) * ww / gw - 0.5
        ys = (np.arange(gh) + 0.5) * wh / gh - 0.5
        return gw, gh, xs, ys

    def __call__(self, image: np.ndarray, sizes: Sequence[float]) -> torch.Tensor:
        work = self.working_image(image)
        gw, gh, xs, ys = self.grid((work.shape[1], work.shape[0]))
        maps = []
        for size in sizes:
            kps = [cv2.KeyPoint(float(x), float(y), float(size), 0.0) for y in ys for x in xs]
            out_kps, desc = self._sift.compute(work, kps)
            if desc is None or len(out_kps) != len(kps):
                raise RuntimeError("OpenCV SIFT dropped grid points; cannot build a dense map")
            desc = desc.astype(np.float32)
            if self.config.root_sift:
                desc = np.sqrt(desc / np.maximum(desc.sum(axis=1, keepdims=True), 1e-12))
            maps.append(desc.reshape(gh, gw, -1).transpose(2, 0, 1))
        return torch.from_numpy(np.ascontiguousarray(np.stack(maps)))


class ClassicalMatcher(DenseFeatureMatcher):
    """Weight-free engine. Confidence: relative margin of the cosine-similarity peak (see :mod:`peaks`)."""

    method = METHOD

    def __init__(self, config: ClassicalConfig) -> None:
        super().__init__(config.matching, config.batch_size)
        self.config = config
        self.sift = DenseSift(config)

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def reference_signature(self) -> str:
        c = self.config
        payload = {
            "method": METHOD,
            "version": ALGORITHM_VERSION,
            "work_side": c.work_side,
            "step": c.step,
            "size": c.size,
            "reference_scales": list(c.reference_scales),
            "root_sift": c.root_sift,
        }
        return f"{METHOD}:{stable_hash(payload)}"

    @property
    def signature(self) -> str:
        return f"{METHOD}:{stable_hash({'method': METHOD, 'version': ALGORITHM_VERSION, **config_dict(self.config)})}"

    def _feature_maps(self, images: Sequence[np.ndarray]) -> list[torch.Tensor]:
        return [self.sift(image, [self.config.size])[0] for image in images]

    def _reference_maps(self, image: np.ndarray) -> torch.Tensor:
        return self.sift(image, [self.config.size * s for s in self.config.reference_scales])

    def to(self, device: str) -> None:
        """Runs on the CPU only (OpenCV); any other device request is refused with a message."""
        if resolve_device(device).type != "cpu":
            raise UserInputError("the classical matcher runs on the CPU only")


def build(model: str | None, preset: str, device: str = "auto", dtype: str = "auto", **overrides: Any) -> ClassicalMatcher:
    """The classical matcher; ``model``, ``device`` and ``dtype`` are accepted and ignored (CPU, float32)."""
    if model not in (None, ""):
        raise UserInputError("the classical method uses no model; leave --model out")
    try:
        base = CLASSICAL_PRESETS[preset]
    except KeyError:
        raise UserInputError(f"unknown preset {preset!r}; choose one of {', '.join(CLASSICAL_PRESETS)}") from None
    return ClassicalMatcher(with_overrides(base, overrides))
