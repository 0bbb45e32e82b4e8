"""How much UNet work a run costs, known before any model is loaded (for the GUI's plan)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from labeler.errors import UserInputError
from labeler.propagation.types import CostEstimate, PropagationConfig


def engine_config(config: PropagationConfig, loaded: Any = None) -> Any:
    """The engine's config dataclass: the loaded engine's, else the preset with the overrides
    (model-card settings such as the resolution do not change the counts)."""
    if loaded is not None and dataclasses.is_dataclass(getattr(loaded, "config", None)):
        return loaded.config
    if config.method == "attention":
        from labeler.correspondence.attention_config import PRESETS
    elif config.method == "dift":
        from labeler.correspondence.config import DIFT_PRESETS as PRESETS
    elif config.method == "classical":
        from labeler.correspondence.config import CLASSICAL_PRESETS as PRESETS
    elif config.method == "fusion":
        from labeler.correspondence.fusion_config import FUSION_PRESETS as PRESETS
    else:
        return None
    base = PRESETS.get(config.preset)
    if base is None:
        raise UserInputError(f"unknown preset {config.preset!r}; choose one of {', '.join(PRESETS)}")
    names = {f.name for f in dataclasses.fields(base)}
    known = {k: v for k, v in config.overrides_dict.items() if k in names}
    try:
        return dataclasses.replace(base, **known)
    except (TypeError, ValueError):
        return base


def estimate(
    config: PropagationConfig,
    *,
    refs_per_keypoint: Mapping[str, int],
    points_to_prepare: int,
    images_to_prepare: int,
    targets: int,
    flip: bool,
    engine: Any = None,
) -> CostEstimate:
    """``points_to_prepare``/``images_to_prepare``: reference points (and their images) whose
    state is not cached yet, per pose."""
    method = config.method
    cfg = engine_config(config, engine)
    poses = 2 if flip else 1
    flip_note = ", flip-aware (both poses)" if flip else ""
    if method == "attention" and cfg is not None:
        e, crops, steps = cfg.num_embeddings, cfg.inference_crops, cfg.steps
        contexts = sum(refs_per_keypoint.values()) * e
        per_target = contexts * crops * poses
        refs = points_to_prepare * e * steps * poses
        text = (
            f"attention {config.preset}: {per_target} UNet evaluations per image "
            f"({len(refs_per_keypoint)} keypoints, {sum(refs_per_keypoint.values())} references x {e} contexts "
            f"x {crops} crops{flip_note}) for ~{targets} images; reference optimisation "
            f"{points_to_prepare} keypoint(s) x {e} x {steps} steps x {poses} = {refs} forward+backward passes"
        )
        return CostEstimate(per_target, refs, text)
    if method == "dift" and cfg is not None:
        per_target = cfg.ensemble
        refs = images_to_prepare * cfg.reference_ensemble * poses
        text = (
            f"DIFT {config.preset}: {per_target} UNet evaluation(s) per image (ensemble {cfg.ensemble}{flip_note}), "
            f"~{targets} images; references: {images_to_prepare} image(s) to describe x {cfg.reference_ensemble} draws "
            f"x {poses} = {refs} UNet evaluations"
        )
        return CostEstimate(per_target, refs, text)
    if method == "fusion" and cfg is not None:
        crops = cfg.sd_crops
        refs = images_to_prepare * crops * poses
        window = min(cfg.sd_window, cfg.sd_resolution)
        how = f"SD at {cfg.sd_resolution} px" if crops == 1 else f"{crops} crops of {window} px of a {cfg.sd_resolution} px square"
        text = (
            f"fusion {config.preset}: {crops} UNet pass(es) ({how}) + 1 DINOv2 pass "
            f"({cfg.dino_resolution} px) per image{flip_note}, ~{targets} images; references: "
            f"{images_to_prepare} image(s) to describe x {crops} x {poses} = {refs} UNet passes"
        )
        return CostEstimate(crops, refs, text)
    text = f"{method}: no UNet (dense SIFT on the CPU{flip_note}), ~{targets} images"
    return CostEstimate(0, 0, text)
