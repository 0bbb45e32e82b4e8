"""Experiment: the DIFT VAE encoder in bfloat16 on a CPU with AVX512-BF16/AMX (not in the engine).

The VAE encoder is ~70% of DIFT's CPU time at 512 px and runs ~2.5x faster in bf16 on such CPUs.
This measures, on the real-size random SD1.5 model, the time of one image through the engine
with the encoder in fp32 and under ``torch.autocast(bfloat16)``, and what bf16 changes: the
relative feature difference, set against the difference that changing the noise seed makes
(the method's own randomness), and how many predicted keypoints move.

    python -m benchmarks.cpu_bf16 --model sd-1-5 --repeats 3 --json benchmarks/results/cpu-bf16.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.clock import ModuleClock
from benchmarks.machine import load_average, machine_info
from benchmarks.models import model_dir
from benchmarks.synthetic import keypoint_grid, photo
from labeler.correspondence import dift


@contextlib.contextmanager
def bf16_encoder(vae: Any) -> Iterator[None]:
    """``vae.encode`` under CPU autocast to bfloat16 (convolutions and matmuls in bf16)."""
    plain = vae.encode

    def encode(x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return plain(x, *args, **kwargs)

    vae.encode = encode
    try:
        yield
    finally:
        del vae.encode  # the instance attribute goes; the class method is back


def _images() -> list[np.ndarray]:
    try:
        from skimage import data

        return [data.astronaut(), data.chelsea(), data.coffee()]
    except ImportError:  # pragma: no cover - scikit-image is a dev dependency
        return [photo(640, 480, i) for i in range(3)]


def one_image(matcher: Any, image: np.ndarray) -> dict[str, float]:
    comps = matcher.featurizer.comps
    v = ModuleClock(comps.vae.encoder, comps.vae.quant_conv or comps.vae.encoder)
    u = ModuleClock(comps.unet, comps.unet.get_submodule(matcher.config.feature_block))
    try:
        start = time.perf_counter()
        matcher.featurizer([image])
        total = time.perf_counter() - start
    finally:
        v.remove()
        u.remove()
    return {"total_s": total, "vae_s": v.seconds, "unet_s": u.seconds}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.cpu_bf16", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="sd-1-5", help="tiny-random, sd-1-5 or sd-2-1")
    ap.add_argument("--resolution", type=int, help="default: the model's")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    model = "tiny-random" if args.model == "tiny-random" else str(model_dir(args.model))
    over = {"resolution": args.resolution} if args.resolution else {}
    matcher = dift.build(model, "fast", "cpu", **over)
    other_seed = dift.build(model, "fast", "cpu", seed=1, **over)
    images = _images()
    vae = matcher.featurizer.comps.vae
    with torch.inference_mode():
        f32 = matcher.featurizer(images)
        seeded = other_seed.featurizer(images)
        with bf16_encoder(vae):
            b16 = matcher.featurizer(images)
        times: dict[str, list[dict[str, float]]] = {"float32": [], "bf16 encoder": []}
        for _ in range(args.repeats):
            times["float32"].append(one_image(matcher, images[0]))
            with bf16_encoder(vae):
                times["bf16 encoder"].append(one_image(matcher, images[0]))

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).norm() / b.norm())

    # Keypoints: reference = image 0, targets = images 1, 2; positions with fp32 vs bf16 encoder.
    h, w = images[0].shape[:2]
    pts = {f"k{i}": p for i, p in enumerate(keypoint_grid(20, w, h))}
    ref32 = matcher.prepare_reference(images[0], pts)
    pred32 = matcher.predict([ref32], images[1:])
    with bf16_encoder(vae):
        ref16 = matcher.prepare_reference(images[0], pts)
        pred16 = matcher.predict([ref16], images[1:])
    moved = [float(np.linalg.norm(a.xy - b.xy, axis=1).max()) for a, b in zip(pred32, pred16)]
    cell = [max(im.shape[:2]) / (matcher.config.resolution / 16) for im in images[1:]]
    out = {
        "machine": machine_info(torch.device("cpu")).as_dict(),
        "model": args.model,
        "resolution": matcher.config.resolution,
        "load_average": load_average(),
        "times": times,
        "best_total_s": {k: min(r["total_s"] for r in v) for k, v in times.items()},
        "best_vae_s": {k: min(r["vae_s"] for r in v) for k, v in times.items()},
        "feature_rel_diff_bf16_vs_fp32": rel(b16, f32),
        "feature_rel_diff_seed1_vs_seed0": rel(seeded, f32),
        "max_keypoint_move_px": moved,
        "feature_cell_px": cell,
        "keypoints_moved_over_one_cell": int(sum(
            (np.linalg.norm(a.xy - b.xy, axis=1) > c).sum() for a, b, c in zip(pred32, pred16, cell))),
        "keypoints": 20 * len(pred32),
    }
    print(json.dumps({k: v for k, v in out.items() if k not in ("machine", "times")}, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
