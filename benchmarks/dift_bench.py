"""DIFT throughput: end to end through propagate(), its stages, the authors' loop, the FLOP floor."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks import flops
from benchmarks.clock import ModuleClock
from benchmarks.machine import Rates, synchronize, timed
from benchmarks.models import model_dir
from benchmarks.propagation_run import load_engine, summary_dict, timed_propagation
from benchmarks.reference_loops import AuthorsLoopDift
from benchmarks.report import Figure, Report
from benchmarks.synthetic import make_bench_project, photo
from labeler.correspondence.dift import SD_PARTS
from labeler.correspondence.loading import load_sd
from labeler.imaging import load_rgb
from labeler.propagation import PropagationConfig
from labeler.store import Project


@dataclass(frozen=True)
class DiftCase:
    label: str
    model: str  # benchmark model: tiny-random, sd-1-5, sd-2-1
    preset: str
    targets: int
    batch: int  # images per engine pass (and per propagate batch)
    target: str = ""  # the goal for this figure, as text
    overrides: dict[str, Any] = field(default_factory=dict)
    baseline_images: int = 0  # >0: also time the authors' loop on this many targets
    keypoints: int = 20
    dtype: str | None = None  # None: the run's --dtype


def _model_arg(name: str) -> str:
    return "tiny-random" if name == "tiny-random" else str(model_dir(name))


def compile_blocks(unet: torch.nn.Module) -> int:
    """``torch.compile`` every ResNet and transformer block of the UNet in place (experiment).

    The UNet itself is not compiled: the engines stop it with a forward hook that raises inside
    ``up_blocks[1]``, which a compiled graph would have to break at anyway. Returns the count.
    """
    from diffusers.models.resnet import ResnetBlock2D
    from diffusers.models.transformers.transformer_2d import Transformer2DModel

    blocks = [m for m in unet.modules() if isinstance(m, (ResnetBlock2D, Transformer2DModel))]
    for m in blocks:
        m.compile()
    return len(blocks)


def _stage_times(matcher: Any, image: np.ndarray, state: Any, device: torch.device) -> dict[str, float]:
    """One target through ``matcher.predict`` with clocks on the VAE encoder and the UNet."""
    comps = matcher.featurizer.comps
    vae, unet = comps.vae, comps.unet
    block = unet.get_submodule(matcher.config.feature_block)
    vclock = ModuleClock(vae.encoder, vae.quant_conv or vae.encoder, sync=True)
    uclock = ModuleClock(unet, block, sync=True)
    try:
        total, _ = timed(lambda: matcher.predict([state], [image]), device)
    finally:
        vclock.remove()
        uclock.remove()
    return {
        "total_s": total,
        "vae_encode_s": vclock.seconds,
        "unet_s": uclock.seconds,
        "unet_elements": uclock.elements,
        "rest_s": total - vclock.seconds - uclock.seconds,  # preprocess, noise, matching, transfers
    }


def run_case(case: DiftCase, report: Report, device: torch.device, dtype: str, rates: Rates, workdir: Path,
             *, compile_unet: bool = False, stage_repeats: int = 1, channels_last: frozenset[str] | None = None,
             log: Any = print) -> None:
    model = _model_arg(case.model)
    dtype = case.dtype or dtype
    overrides = {"batch_size": case.batch, **case.overrides}
    config = PropagationConfig(method="dift", model=model, preset=case.preset, device=str(device), dtype=dtype,
                               batch_size=case.batch, flip=False, overrides=overrides)
    bench = make_bench_project(workdir / f"dift-{case.model}-{case.preset}", targets=case.targets, keypoints=case.keypoints)
    log(f"[dift] {case.label}: loading {case.model}")
    matcher, load_s = load_engine(config, device)
    try:
        cfg = matcher.config
        comps = matcher.featurizer.comps
        if channels_last is not None:
            matcher.featurizer.use_channels_last(channels_last)
        matcher_layout = matcher.featurizer.channels_last
        if compile_unet:
            compile_blocks(comps.unet)
        log(f"[dift] {case.label}: {case.targets} targets, resolution {cfg.resolution}, ensemble {cfg.ensemble}, "
            f"{matcher.dtype} (VAE encoder autocast {matcher.featurizer.vae_autocast}), batch {case.batch}")
        vae_autocast = str(matcher.featurizer.vae_autocast)
        unet_dtype = matcher.dtype
        vae_dtype = matcher.featurizer.vae_autocast or matcher.dtype
        run = timed_propagation(bench.path, config, matcher, device, load_s)
        # FLOPs of the work DIFT cannot avoid per image: one encode, `ensemble` truncated UNet passes.
        f_vae = flops.vae_encode_flops(comps.vae, cfg.resolution)
        f_unet = flops.unet_flops(comps.unet, cfg.resolution, cfg.feature_block)
        per_image = f_vae + cfg.ensemble * f_unet
        with Project.open(bench.path) as project:
            ref = project.find_image(bench.reference)
            pts = project.points(ref.id)
            ref_image = load_rgb(project.image_path(ref))
        state = matcher.prepare_reference(ref_image, {n: (p.x, p.y) for n, p in pts.items()})
        probe = photo(640, 480, 999)
        stage_runs = [_stage_times(matcher, probe, state, device) for _ in range(stage_repeats)]
        stages = min(stage_runs, key=lambda r: r["total_s"])
    finally:
        matcher.close()
        del matcher
        gc.collect()
    seconds_per_image = 1.0 / run.images_per_s
    # Each model at the matmul rate of the precision it computes in.
    floor_s = f_vae / rates.of(vae_dtype) + cfg.ensemble * f_unet / rates.of(unet_dtype)
    facts = {
        "run": summary_dict(run),
        "config": {"resolution": cfg.resolution, "ensemble": cfg.ensemble, "feature_block": cfg.feature_block,
                   "match_side": cfg.match_side, "refine": cfg.refine, "batch": case.batch, "dtype": dtype,
                   "vae_autocast": vae_autocast,
                   "compile": compile_unet, "channels_last": sorted(matcher_layout)},
        "flops": {"vae_encode": f_vae, "unet_truncated": f_unet, "per_image": per_image},
        "floor": {"seconds_per_image": floor_s, "vae_rate": rates.of(vae_dtype), "unet_rate": rates.of(unet_dtype)},
        "stages_one_image": stages,
        "stages_repeats": stage_runs,
    }
    baseline_s = None
    if case.baseline_images:
        baseline_s, base_facts = authors_loop(case, model, device, bench.path, log=log)
        facts["authors_loop"] = base_facts
    report.facts[f"dift {case.label}"] = facts
    per_s = device.type == "cpu"
    report.add(Figure(
        name=f"DIFT {case.label}: end to end ({case.keypoints} keypoints)",
        value=seconds_per_image if per_s else run.images_per_s,
        unit="s/image" if per_s else "images/s",
        higher_is_better=not per_s,
        target=case.target,
        baseline=(baseline_s if per_s else 1.0 / baseline_s) if baseline_s else None,
        floor=floor_s if per_s else 1.0 / floor_s,
        note=f"{run.predicted} images; load {run.load_s:.0f} s; peak RSS {run.peak_rss_gib:.1f} GiB"
        + (f", GPU {run.peak_gpu_gib:.1f} GiB" if run.peak_gpu_gib is not None else "")
        + (f"; CPU share {run.cpu_share:.0%}" if device.type == "cpu" else ""),
    ))
    if stage_repeats > 1:
        # The least disturbed of a few single-image runs: on a shared CPU the end-to-end figure
        # above carries whatever else the cores were doing.
        best = stages["total_s"]
        report.add(Figure(
            name=f"DIFT {case.label}: one image through the engine, best of {stage_repeats} (no decode, no store)",
            value=best if per_s else 1.0 / best, unit="s/image" if per_s else "images/s", higher_is_better=not per_s,
            target=case.target, floor=floor_s if per_s else 1.0 / floor_s,
            note=f"VAE encode {stages['vae_encode_s']:.2f} s, UNet {stages['unet_s']:.2f} s, rest {stages['rest_s']:.2f} s",
        ))
    log(f"[dift] {case.label}: {seconds_per_image:.3f} s/image ({run.images_per_s:.2f} images/s); "
        f"floor {floor_s:.3f} s; stages {stages}")


def authors_loop(case: DiftCase, model: str, device: torch.device, project_file: Path, *, log: Any = print) -> tuple[float, dict[str, Any]]:
    """Seconds per target image of the authors' loop (fp32) on the benchmark project's images."""
    from labeler.correspondence.cards import find_card
    from labeler.correspondence.config import DIFT_PRESETS

    card = find_card(model)
    comps = load_sd(model, device=device, dtype=torch.float32, parts=SD_PARTS)
    try:
        res = case.overrides.get("resolution") or (card.resolution if card else (768 if comps.family == "sd2" else 512))
        paper = DIFT_PRESETS["paper"]
        loop = AuthorsLoopDift(
            comps, resolution=res, timestep=paper.timestep, feature_block=paper.feature_block,
            ensemble=paper.ensemble, device=device, vae_batch=1 if device.type == "cpu" else None,
        )
        with Project.open(project_file) as project:
            images = project.list_images()
            ref = project.find_image("img_0000.jpg")
            pts = project.points(ref.id)
            files = [project.image_path(r) for r in images if r.id != ref.id][: case.baseline_images]
            ref_file = project.image_path(ref)
        names = sorted(pts)
        desc = loop.describe(load_rgb(ref_file), np.array([(pts[n].x, pts[n].y) for n in names]))
        log(f"[dift] authors' loop: {len(files)} image(s), ensemble {paper.ensemble} (encode x{paper.ensemble}), fp32")
        times = []
        for f in files:
            t, _ = timed(lambda f=f: loop.locate(desc, load_rgb(f)), device)
            times.append(t)
            log(f"[dift] authors' loop: {t:.2f} s")
        synchronize(device)
        return float(np.mean(times)), {"seconds": times, "resolution": res, "ensemble": paper.ensemble,
                                       "vae_batch": loop.vae_batch}
    finally:
        comps.unet = comps.vae = comps.text_encoder = None
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
