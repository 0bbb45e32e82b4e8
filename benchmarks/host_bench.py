"""Host-side ceiling of a propagation: everything except the networks, end to end.

At the GPU targets (100 images/s and more) every image has a budget of a few milliseconds for
JPEG decoding, the resize to the model's resolution, the copy to the device, matching 20
keypoints and committing the points. This case runs :func:`propagate` with an engine whose
feature maps cost nothing (one precomputed random map of DIFT's real shape, already on the
device) and the real DIFT host work, so its images/s is the ceiling that the pipeline around the
networks allows on this machine. Whatever the networks cost comes on top.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.propagation_run import summary_dict, timed_propagation
from benchmarks.report import Figure, Report
from benchmarks.synthetic import make_bench_project
from labeler.correspondence.dift import config_for, model_input, resized_uint8
from labeler.correspondence.features import DenseFeatureMatcher
from labeler.propagation import PropagationConfig

#: DIFT's feature map at SD2.1 @ 768 px: up_blocks[1] output, 1280 channels at 1/16 resolution.
CHANNELS = 1280
STRIDE = 16


@dataclass(frozen=True)
class HostCase:
    label: str
    preset: str
    targets: int
    batch: int
    photo_size: tuple[int, int] = (640, 480)
    resolution: int = 768
    keypoints: int = 20


class FreeFeatures(DenseFeatureMatcher):
    """DIFT's host work (resize, scaling, transfer) and matching, with a feature map that costs nothing."""

    method = "dift"

    def __init__(self, preset: str, resolution: int, batch: int, device: torch.device) -> None:
        self.config = config_for(preset, {}, resolution)
        super().__init__(self.config.matching, batch)
        self._device = device
        side = resolution // STRIDE
        gen = torch.Generator().manual_seed(0)
        self.map = torch.randn((CHANNELS, side, side), generator=gen).to(device)

    @property
    def device(self) -> str:
        return str(self._device)

    @property
    def reference_signature(self) -> str:
        return "free-features"

    @property
    def signature(self) -> str:
        return "free-features"

    def _feature_maps(self, images: Sequence[np.ndarray]) -> list[torch.Tensor]:
        x = model_input(resized_uint8(images, self.config.resolution), self._device, torch.float32, False)
        del x  # the networks would start here
        return [self.map] * len(images)

    def to(self, device: str) -> None:
        self._device = torch.device(device)
        self.map = self.map.to(self._device)

    def close(self) -> None:
        pass


def run_case(case: HostCase, report: Report, device: torch.device, workdir: Path, *, log: Any = print) -> None:
    w, h = case.photo_size
    bench = make_bench_project(workdir / f"host-{case.preset}-{w}x{h}", targets=case.targets,
                               keypoints=case.keypoints, size=case.photo_size)
    config = PropagationConfig(method="dift", model="free-features", preset=case.preset, device=str(device),
                               batch_size=case.batch, flip=False)
    matcher = FreeFeatures(case.preset, case.resolution, case.batch, device)
    log(f"[host] {case.label}: {case.targets} targets of {w}x{h}, batch {case.batch}")
    try:
        run = timed_propagation(bench.path, config, matcher, device)
    finally:
        matcher.close()
        gc.collect()
    per_image_ms = 1000.0 / run.images_per_s
    report.facts[f"host {case.label}"] = {"run": summary_dict(run), "photo_size": case.photo_size,
                                          "resolution": case.resolution, "batch": case.batch}
    report.add(Figure(
        name=f"Host ceiling, {case.label}: decode, resize, transfer, match {case.keypoints} keypoints, commit",
        value=run.images_per_s, unit="images/s", higher_is_better=True,
        note=f"{run.predicted} images, {per_image_ms:.1f} ms/image; networks excluded"
        + (f"; CPU share {run.cpu_share:.0%}" if device.type == "cpu" else ""),
    ))
    log(f"[host] {case.label}: {run.images_per_s:.1f} images/s ({per_image_ms:.1f} ms/image)")
