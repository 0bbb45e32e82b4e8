"""Attention method: optimisation seconds per keypoint and inference seconds per target image.

Both come from one end-to-end propagate() run (reference stage = the prompt optimisation of
every labelled keypoint; prediction stage = inference on the targets), with clocks on the VAE
encoder and the UNet. Where the run is reduced (fewer keypoints, steps or crops than the preset,
as on a CPU where the paper preset takes hours), the figures are EXTRAPOLATED to the preset:
UNet time scales with the number of UNet batch elements (exactly proportional to keypoints x
contexts x steps/crops), VAE time with the number of distinct crops the preset would encode
(the engine encodes each distinct crop of an image once), which is estimated by drawing the
preset's crops with :mod:`labeler.correspondence.crops`.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks import flops
from benchmarks.clock import ModuleClock
from benchmarks.machine import Rates, timed
from benchmarks.models import model_dir
from benchmarks.propagation_run import load_engine, summary_dict, timed_propagation
from benchmarks.reference_loops import AuthorsLoopAttention
from benchmarks.report import Figure, Report
from benchmarks.synthetic import keypoint_grid, make_bench_project, photo
from labeler.correspondence import crops
from labeler.correspondence.attention_config import PRESETS
from labeler.correspondence.loading import load_sd
from labeler.propagation import STAGE_PREDICTING, PropagationConfig

#: Keypoints per target image in the issue's figures.
FULL_KEYPOINTS = 20


@dataclass(frozen=True)
class AttentionCase:
    label: str
    model: str
    preset: str
    keypoints: int  # labelled (and optimised) in the run
    steps: int | None = None  # None: the preset's
    crops: int | None = None  # inference crops per context; None: the preset's
    targets: int = 1
    batch: int | None = None  # UNet elements per pass; None: the preset's
    target_opt: str = ""
    target_inf: str = ""
    baseline_steps: int = 0  # >0: time this many steps / crops of the authors' loop
    overrides: dict[str, Any] = field(default_factory=dict)


def expected_distinct_crops(points: np.ndarray, draws_per_point: int, side: int, crop: int, margin: float,
                            corners: bool = False, shared_draws: bool = False, seed: int = 0) -> float:
    """Distinct crop starts among ``draws_per_point`` random crops around each point (one image).

    ``shared_draws``: every point uses the same ``draws_per_point`` uniforms (keypoints whose start
    range is the same then share crops; the engine did this at inference before issue #12);
    otherwise each point draws its own (the engine keys every draw by keypoint and image). The engine's crops around the running argmax are modelled as crops around the point.
    """
    rng = np.random.default_rng(seed)
    starts = set(crops.corner_starts(crop, side)) if corners else set()
    shared = rng.random((draws_per_point, 2))
    for p in points:
        for u in shared if shared_draws else rng.random((draws_per_point, 2)):
            starts.add(crops.random_start((float(p[0]), float(p[1])), crop, margin, side, (float(u[0]), float(u[1]))))
    return float(len(starts))


def _clocks(matcher: Any) -> tuple[ModuleClock, ModuleClock]:
    comps = matcher.components
    vae, unet = comps.vae, comps.unet
    return (ModuleClock(vae.encoder, vae.quant_conv or vae.encoder, sync=True),
            ModuleClock(unet, unet.get_submodule(matcher.stop_layer), sync=False))


def run_case(case: AttentionCase, report: Report, device: torch.device, dtype: str, rates: Rates, workdir: Path,
             *, log: Any = print) -> None:
    preset = PRESETS[case.preset]
    model = "tiny-random" if case.model == "tiny-random" else str(model_dir(case.model))
    overrides = dict(case.overrides)
    if case.steps is not None:
        overrides["steps"] = case.steps
    if case.crops is not None:
        overrides["inference_crops"] = case.crops
    if case.batch is not None:
        overrides["batch_size"] = case.batch
    config = PropagationConfig(method="attention", model=model, preset=case.preset, device=str(device), dtype=dtype,
                               batch_size=1, flip=False, overrides=overrides)
    bench = make_bench_project(workdir / f"attention-{case.model}-{case.preset}", targets=case.targets,
                               keypoints=case.keypoints)
    log(f"[attention] {case.label}: loading {case.model}")
    matcher, load_s = load_engine(config, device)
    try:
        cfg = matcher.config
        vclock, uclock = _clocks(matcher)
        # The clocks' state at the first prediction event separates the two stages.
        snap: dict[str, Any] = {"stop_layer": matcher.stop_layer}

        def on_event(event: Any) -> None:
            if event.stage == STAGE_PREDICTING and "ref_vae" not in snap:
                snap["ref_vae"], snap["ref_unet"] = vclock.snapshot(), uclock.snapshot()

        run = timed_propagation(bench.path, config, matcher, device, load_s, on_event=on_event)
        snap["end_vae"], snap["end_unet"] = vclock.snapshot(), uclock.snapshot()
        snap.setdefault("ref_vae", snap["end_vae"])
        snap.setdefault("ref_unet", snap["end_unet"])
        vclock.remove()
        uclock.remove()
        comps = matcher.components
        side = cfg.resolution
        stride = matcher.vae_stride
        f_vae = flops.vae_encode_flops(comps.vae, side)
        f_fwd = flops.unet_flops(comps.unet, side, matcher.stop_layer, vae_stride=stride)
        f_fwdbwd = flops.unet_flops(comps.unet, side, matcher.stop_layer, backward=True, vae_stride=stride)
        rate = rates.of(comps.unet.dtype)
    finally:
        matcher.close()
        del matcher
        gc.collect()

    ref_v_n, _, ref_v_s = snap["ref_vae"]
    ref_u_n = snap["ref_unet"][0]
    all_v_n, _, all_v_s = snap["end_vae"]
    all_u_n = snap["end_unet"][0]
    inf_v_n, inf_v_s, inf_u_n = all_v_n - ref_v_n, all_v_s - ref_v_s, all_u_n - ref_u_n
    opt_unet_s = run.reference_s - ref_v_s
    inf_unet_s = run.predict_s - inf_v_s

    # The preset's work per keypoint (optimisation) and per target with 20 keypoints (inference).
    crop_px = int(side * preset.crop_fraction)
    margin = preset.crop_margin * crop_px
    pts20 = np.array(keypoint_grid(FULL_KEYPOINTS, 640, 480)) * np.array([side / 640, side / 480])
    full_opt_unet = preset.num_embeddings * preset.steps  # per keypoint
    full_opt_vae = expected_distinct_crops(pts20, full_opt_unet, side, crop_px, margin) / FULL_KEYPOINTS
    full_inf_unet = FULL_KEYPOINTS * preset.num_embeddings * preset.inference_crops
    extra = max(0, preset.inference_crops - 4)
    full_inf_vae = expected_distinct_crops(pts20, preset.num_embeddings * extra, side, crop_px, margin, corners=True)

    measured_opt = case.steps in (None, preset.steps)
    measured_inf = case.crops in (None, preset.inference_crops) and case.keypoints == FULL_KEYPOINTS
    opt_per_kp = (opt_unet_s / max(ref_u_n, 1) * full_opt_unet + ref_v_s / max(ref_v_n, 1) * full_opt_vae) \
        if not measured_opt else run.reference_s / case.keypoints
    inf_per_target = (inf_unet_s / max(inf_u_n, 1) * full_inf_unet + inf_v_s / max(inf_v_n, 1) * full_inf_vae) \
        if not measured_inf else run.predict_s / max(run.predicted, 1)
    opt_floor = (full_opt_unet * f_fwdbwd + full_opt_vae * f_vae) / rate
    inf_floor = (full_inf_unet * f_fwd + full_inf_vae * f_vae) / rate

    facts: dict[str, Any] = {
        "run": summary_dict(run),
        "config": {"resolution": side, "layers": list(cfg.layers), "stop_layer": snap["stop_layer"],
                   "num_embeddings": cfg.num_embeddings, "steps": cfg.steps, "inference_crops": cfg.inference_crops,
                   "batch_size": cfg.batch_size, "keypoints": case.keypoints, "targets": case.targets, "dtype": dtype},
        "optimisation": {"unet_elements": ref_u_n, "vae_encodes": ref_v_n, "vae_s": ref_v_s, "unet_fwd_bwd_s": opt_unet_s},
        "inference": {"unet_elements": inf_u_n, "vae_encodes": inf_v_n, "vae_s": inf_v_s, "unet_s": inf_unet_s},
        "preset_work": {"opt_unet_elements_per_kp": full_opt_unet, "opt_vae_encodes_per_kp": full_opt_vae,
                        "inf_unet_elements_per_target": full_inf_unet, "inf_vae_encodes_per_target": full_inf_vae},
        "flops": {"vae_encode": f_vae, "unet_fwd": f_fwd, "unet_fwd_bwd": f_fwdbwd},
        "floor": {"opt_seconds_per_keypoint": opt_floor, "inf_seconds_per_target": inf_floor, "rate": rate},
    }
    base_opt = base_inf = None
    if case.baseline_steps:
        base_opt, base_inf, base_facts = authors_loop(case, model, device, cfg, case.baseline_steps, log=log)
        facts["authors_loop"] = base_facts
    report.facts[f"attention {case.label}"] = facts
    note = (f"run: {case.keypoints} keypoints, {cfg.num_embeddings} contexts, {cfg.steps} steps, "
            f"{cfg.inference_crops} crops, {run.predicted} target(s); peak RSS {run.peak_rss_gib:.1f} GiB"
            + (f", GPU {run.peak_gpu_gib:.1f} GiB" if run.peak_gpu_gib is not None else ""))
    report.add(Figure(
        name=f"Attention {case.label}: optimisation per keypoint ({preset.num_embeddings} x {preset.steps} steps)",
        value=opt_per_kp, unit="s", target=case.target_opt, baseline=base_opt, floor=opt_floor,
        how="measured" if measured_opt else "extrapolated", note=note,
    ))
    report.add(Figure(
        name=f"Attention {case.label}: inference per target ({FULL_KEYPOINTS} keypoints x {preset.num_embeddings} x "
             f"{preset.inference_crops} crops)",
        value=inf_per_target, unit="s", target=case.target_inf, baseline=base_inf, floor=inf_floor,
        how="measured" if measured_inf else "extrapolated", note=note,
    ))
    log(f"[attention] {case.label}: optimisation {opt_per_kp:.2f} s/keypoint (floor {opt_floor:.2f}), "
        f"inference {inf_per_target:.2f} s/target (floor {inf_floor:.2f})")


def authors_loop(case: AttentionCase, model: str, device: torch.device, cfg: Any, n: int, *,
                 log: Any = print) -> tuple[float, float, dict[str, Any]]:
    """Seconds per keypoint (optimisation) and per target (inference) of the authors' loop,
    from ``n`` timed steps and ``n`` timed crop passes after one warm-up each, linearly
    extrapolated to the preset's ``contexts x steps`` and ``20 x contexts x crops`` passes
    (every pass of that loop costs the same: batch 1, a fresh VAE encode, the whole UNet)."""
    preset = PRESETS[case.preset]
    comps = load_sd(model, device=device, dtype=torch.float32, parts=("unet", "vae", "scheduler"))
    try:
        loop = AuthorsLoopAttention(
            comps, layers=cfg.layers, heads=cfg.heads, token=cfg.token, resolution=cfg.resolution,
            crop_fraction=cfg.crop_fraction, sigma_px=cfg.sigma_px, lr=cfg.lr,
            timestep_optimize=cfg.timestep_optimize, timestep_infer=cfg.timestep_infer, device=device,
        )
        work = loop.working(photo(640, 480, 7))
        point = (cfg.resolution * 0.5, cfg.resolution * 0.4)
        context = loop.new_context()
        optim = torch.optim.Adam([context], lr=loop.lr)
        step_times = []
        for i in range(n + 1):
            t, _ = timed(lambda: loop.optimisation_step(work, point, context, optim), device)
            if i:
                step_times.append(t)
        log(f"[attention] authors' loop: optimisation step {np.mean(step_times):.2f} s (n={n})")
        last = cfg.resolution - loop.crop
        starts = [(0, 0), (last, last)] + [(last // 2, last // 3)] * n
        frozen = context.detach()
        pass_times = []
        for i in range(n + 1):
            t, _ = timed(lambda i=i: loop.inference_pass(work, starts[i % len(starts)], frozen), device)
            if i:
                pass_times.append(t)
        log(f"[attention] authors' loop: inference pass {np.mean(pass_times):.2f} s (n={n})")
    finally:
        comps.unet = comps.vae = None
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    step, crop_pass = float(np.mean(step_times)), float(np.mean(pass_times))
    per_kp = step * preset.num_embeddings * preset.steps
    per_target = crop_pass * FULL_KEYPOINTS * preset.num_embeddings * preset.inference_crops
    return per_kp, per_target, {"step_s": step_times, "inference_pass_s": pass_times,
                                "opt_per_keypoint_s": per_kp, "inference_per_target_s": per_target,
                                "extrapolated_from": n}
