"""Fusion (SD + DINOv2) cost per image on real-size random-weight models, stage by stage.

    python -m benchmarks.fusion_bench --device cpu                 # fast and paper, 1 image each
    python -m benchmarks.fusion_bench --size tiny --device cpu     # smoke run on the tiny models

``--size full`` builds (once, into the labeler cache) random-weight SD1.5 from
``models/real-size/sd-1-5`` and DINOv2-B/14 from ``models/real-size/dinov2-base``: the FLOPs and
memory traffic of the real checkpoints, no content. Per preset it describes one reference image
and predicts one 640 x 480 target with 20 keypoints, and prints the wall time of each stage
(VAE encoder, UNet to ``up_blocks[2].attentions[1]``, DINOv2, the rest: resizing, fusion and
matching). The target's total is the figure "s/image" that the README and ``--help`` quote.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.models import model_dir
from benchmarks.synthetic import photo
from labeler.correspondence import fusion
from labeler.correspondence.dinov2 import random_dinov2_dir
from labeler.paths import models_dir


class StageClock:
    """Wall time spent inside given modules (forward pre/post hooks), summed per stage."""

    def __init__(self, modules: dict[str, torch.nn.Module]) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._start: dict[str, float] = {}
        self._handles = []
        for name, module in modules.items():
            self._handles.append(module.register_forward_pre_hook(lambda *_a, n=name: self._begin(n)))
            self._handles.append(module.register_forward_hook(lambda *_a, n=name: self._end(n), always_call=True))

    def _begin(self, name: str) -> None:
        self._start[name] = time.perf_counter()

    def _end(self, name: str) -> None:
        self.seconds[name] += time.perf_counter() - self._start.pop(name)

    def take(self) -> dict[str, float]:
        out = dict(self.seconds)
        self.seconds.clear()
        return out

    def close(self) -> None:
        for h in self._handles:
            h.remove()


def models(size: str) -> tuple[str, str | None]:
    if size == "tiny":
        return "tiny-random", None
    return str(model_dir("sd-1-5")), str(random_dinov2_dir(models_dir() / "real-size" / "dinov2-base", "real-size-dinov2-base"))


def run_case(sd: str, dino: str | None, preset: str, device: str, keypoints: int) -> dict[str, Any]:
    overrides = {} if dino is None else {"dino": dino}
    t0 = time.perf_counter()
    m = fusion.build(sd, preset, device, **overrides)
    load = time.perf_counter() - t0
    f = m.featurizer
    clock = StageClock({"vae_encoder": f.comps.vae.encoder, "unet": f.comps.unet, "dinov2": f.dino.model})
    reference, target = photo(640, 480, seed=1), photo(640, 480, seed=2)
    rng = np.random.default_rng(0)
    points = {f"kp{i}": (float(x), float(y)) for i, (x, y) in enumerate(rng.uniform([20, 20], [620, 460], (keypoints, 2)))}
    t0 = time.perf_counter()
    ref = m.prepare_reference(reference, points)
    ref_s = time.perf_counter() - t0
    ref_stages = clock.take()
    t0 = time.perf_counter()
    m.predict([ref], [target])
    target_s = time.perf_counter() - t0
    stages = clock.take()
    clock.close()
    stages["other (resize, fusion, matching)"] = target_s - sum(stages.values())
    cfg = m.config
    return {
        "preset": preset, "sd_resolution": cfg.sd_resolution, "dino_resolution": cfg.dino_resolution,
        "grid": cfg.grid, "load_s": load, "reference_s": ref_s, "reference_stages": ref_stages,
        "target_s": target_s, "target_stages": stages, "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=("tiny", "full"), default="full")
    p.add_argument("--device", default="cpu")
    p.add_argument("--presets", default="fast,paper")
    p.add_argument("--keypoints", type=int, default=20)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    sd, dino = models(args.size)
    results = []
    for preset in args.presets.split(","):
        r = run_case(sd, dino, preset, args.device, args.keypoints)
        results.append(r)
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in r["target_stages"].items())
        print(f"fusion {preset} ({r['sd_resolution']}/{r['dino_resolution']} px, {r['grid']}x{r['grid']} grid) "
              f"on {args.device}: {r['target_s']:.1f} s/image [{stages}]; reference {r['reference_s']:.1f} s; "
              f"load {r['load_s']:.1f} s", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps({"size": args.size, "device": args.device, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
