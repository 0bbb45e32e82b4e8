"""Fusion (SD + DINOv2) cost per image on real-size random-weight models, stage by stage.

    python -m benchmarks.fusion_bench --device cpu                 # fast and paper, 1 image each
    python -m benchmarks.fusion_bench --size tiny --device cpu     # smoke run on the tiny models
    python -m benchmarks.fusion_bench --flops                      # TFLOP per image (meta device)

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


def flop_counts(preset: str) -> dict[str, float]:
    """TFLOP per image of each network at real size (SD 1.5, DINOv2-B), counted on the meta device
    (no weights, no compute, seconds): attention as explicit matmuls, multiply-add = 2 FLOPs."""
    import json as _json

    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.models.attention_processor import AttnProcessor
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import Dinov2Config, Dinov2Model

    from labeler.correspondence.fusion_config import FUSION_PRESETS
    from labeler.correspondence.truncation import run_until

    src = models_dir() / "real-size"

    def config(path: Path) -> dict[str, Any]:
        data = _json.loads(path.read_text(encoding="utf-8"))
        return {k: v for k, v in data.items() if not k.startswith("_") and k not in ("architectures", "model_type")}

    with torch.device("meta"):
        unet = UNet2DConditionModel(**config(src / "sd-1-5" / "unet" / "config.json"))
        vae = AutoencoderKL(**config(src / "sd-1-5" / "vae" / "config.json"))
        dino = Dinov2Model(Dinov2Config(**config(src / "dinov2-base" / "config.json"), attn_implementation="eager"))
    unet.set_attn_processor(AttnProcessor())
    vae.set_attn_processor(AttnProcessor())
    cfg = FUSION_PRESETS[preset]
    w, crops = min(cfg.sd_window, cfg.sd_resolution), cfg.sd_crops

    def count(fn: Any) -> float:
        with FlopCounterMode(display=False) as counter:
            fn()
        return counter.get_total_flops() / 1e12

    meta = {"device": "meta"}
    vae_t = crops * count(lambda: vae.encoder(torch.zeros(1, 3, w, w, **meta)))
    unet_t = crops * count(lambda: run_until(unet, cfg.sd_layers[-1], torch.zeros(1, 4, w // 8, w // 8, **meta),
                                             torch.full((1,), cfg.timestep, **meta),
                                             encoder_hidden_states=torch.zeros(1, 77, 768, **meta)))
    d = cfg.dino_resolution
    dino_t = count(lambda: run_until(dino, "encoder.layer.11", pixel_values=torch.zeros(1, 3, d, d, **meta)))
    return {"vae_encoder": vae_t, "unet": unet_t, "dinov2": dino_t, "total": vae_t + unet_t + dino_t}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=("tiny", "full"), default="full")
    p.add_argument("--device", default="cpu")
    p.add_argument("--presets", default="fast,paper")
    p.add_argument("--keypoints", type=int, default=20)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--flops", action="store_true", help="only count each preset's TFLOP per image (seconds, no weights)")
    args = p.parse_args(argv)
    if args.flops:
        for preset in args.presets.split(","):
            t = flop_counts(preset)
            print(f"fusion {preset}: {t['total']:.2f} TFLOP/image (VAE encoder {t['vae_encoder']:.2f}, "
                  f"UNet {t['unet']:.2f}, DINOv2 {t['dinov2']:.2f})", flush=True)
        return 0
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
