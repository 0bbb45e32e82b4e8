"""Settings of the SD + DINOv2 fusion method (zero-shot GeoAware-SC / SD-DINO).

``paper`` = ``geoaware-sc``: the authors' zero-shot SPair-71k pipeline (Junyi42/GeoAware-SC,
``configs/eval_zero_shot_spair.yaml`` with ``preprocess_map.py``): SD 1.5 on a 960 px square seen
as ODISE's 2 x 2 sliding 512 px crops, t = 50, FreeU on (as their ODISE copy), decoder features
s3/s4/s5; DINOv2-B/14 at 840 px, block 11 tokens; a 60 x 60 grid, 11 x 11 window soft-argmax at
temperature 0.02. ``sd-dino``: Zhang et al. 2023's pipeline (Junyi42/sd-dino): the same without
FreeU, t = 100, nearest-cell argmax. ``fast``: ``geoaware-sc`` at 768/672 px (48 x 48 grid), SD in
one pass. Every difference from the authors is listed in :data:`FUSION_AUTHOR_DIFFERENCES` and in
the README.

A model card may carry a ``[fusion]`` table overriding ``sd_resolution``, ``dino_resolution`` and
``sd_layers`` (the tiny test model runs at 256/224 px); explicit overrides replace any field last.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any

from labeler.correspondence.config import MatchSettings, Refine, Combine, _validate_matching
from labeler.correspondence.settings import replace_settings
from labeler.errors import UserInputError

#: Bumped whenever the fusion maths changes in a way that changes predictions (2: FreeU).
FUSION_VERSION = 2

#: Outputs of the SD 1.x/2.x UNet taken by the authors, in the order the UNet runs them. In the
#: LDM code they are the inputs of ``output_blocks[2, 5, 8]`` (``decoder_only``), i.e. the outputs
#: of the second layer of up blocks 0, 1 and 2, before each block's upsampler: s5 (1280 ch, 1/64),
#: s4 (1280 ch, 1/32), s3 (640 ch, 1/16 of the image). The last one stops the UNet.
SD_LAYERS = ("up_blocks.0.resnets.1", "up_blocks.1.attentions.1", "up_blocks.2.attentions.1")
SD_STRIDE = 16  # image pixels per cell of the finest tap (s3): 960 px -> 60 cells
DINO_PATCH = 14


@dataclass(frozen=True)
class FusionConfig:
    """SD decoder features + DINOv2 tokens, each L2-normalised, concatenated, matched by cosine.

    ``sd_resolution`` / ``dino_resolution``: side of the square each image is resized into (aspect
    kept, zero padding, as the authors); both must give the same grid (``sd_resolution / 16 ==
    dino_resolution / 14``). ``sd_window``: side of the crops the UNet sees (ODISE's sliding
    window: 960 px = 2 x 2 crops of 512 px, overlaps averaged); >= ``sd_resolution`` = one pass. ``timestep``: SD noise level (the authors' t = 50); every image draws
    its own noise from a generator seeded by ``seed`` and its pixels; ``noise`` False feeds the
    clean latent at that timestep instead (CleanDIFT's UNet). ``dino``: DINOv2 card key,
    hub id or folder; empty = ``dinov2-base``, or the tiny test model with ``--model tiny-random``.
    ``dino_layer``: None = the card's. ``sd_weight``: share of the SD half after normalisation
    (0.5 = the authors' equal weighting). ``pose``: flip-aware matching keeps the pose whose reference
    image is closer to the target (``mutual_nn``: mean distance of mutual nearest neighbours between
    the two fused maps, the authors' ``--MUTUAL_NN``) or whose predictions are more confident
    (``confidence``). ``batch_size``: targets per pass (no effect on results).
    """

    sd_resolution: int = 960
    sd_window: int = 512
    dino_resolution: int = 840
    timestep: int = 50
    noise: bool = True
    sd_layers: tuple[str, ...] = SD_LAYERS
    prompt: str = ""
    dino: str = ""
    dino_layer: int | None = None
    sd_weight: float = 0.5
    seed: int = 0
    freeu: bool = True
    freeu_b1: float = 1.2
    freeu_b2: float = 1.4
    freeu_s1: float = 0.9
    freeu_s2: float = 0.2
    match_side: int | None = 60
    refine: Refine = "soft_argmax"
    soft_window: int = 11
    soft_temperature: float = 0.02
    combine: Combine = "max"
    margin_radius: float = 0.05
    pose: str = "mutual_nn"
    batch_size: int = 2

    @property
    def grid(self) -> int:
        """Cells on the long side of the fused feature map (60 in the paper)."""
        return self.sd_resolution // SD_STRIDE

    @property
    def sd_crops(self) -> int:
        """UNet passes per image: ODISE's sliding windows over the square (960 / 512: 2 x 2)."""
        window = min(self.sd_window, self.sd_resolution)
        per_axis = max(self.sd_resolution - window + window - 1, 0) // window + 1
        return per_axis * per_axis

    @property
    def matching(self) -> MatchSettings:
        return MatchSettings(
            match_side=self.match_side,
            refine=self.refine,
            soft_window=self.soft_window,
            soft_temperature=self.soft_temperature,
            combine=self.combine,
            margin_radius=self.margin_radius,
            pose=self.pose,
        )

    def validate(self) -> None:
        check_field_types(self)
        _validate_matching(self)
        if self.sd_resolution < 64 or self.sd_resolution % 64:
            raise UserInputError(f"sd_resolution must be a multiple of 64 (got {self.sd_resolution})")
        if self.sd_window < 64 or self.sd_window % 64:
            raise UserInputError(f"sd_window must be a multiple of 64 (got {self.sd_window})")
        if self.dino_resolution < DINO_PATCH or self.dino_resolution % DINO_PATCH:
            raise UserInputError(f"dino_resolution must be a multiple of {DINO_PATCH} (got {self.dino_resolution})")
        if self.sd_resolution // SD_STRIDE != self.dino_resolution // DINO_PATCH:
            raise UserInputError(
                f"sd_resolution/{SD_STRIDE} ({self.sd_resolution // SD_STRIDE}) and dino_resolution/{DINO_PATCH} "
                f"({self.dino_resolution // DINO_PATCH}) must give the same grid, e.g. 960 and 840 (60 cells)"
            )
        if not 0 <= self.timestep < 1000:
            raise UserInputError(f"timestep must lie in [0, 999] (got {self.timestep})")
        if not isinstance(self.sd_layers, tuple) or not all(isinstance(n, str) for n in self.sd_layers):
            raise UserInputError(f"sd_layers must be a list of UNet block names (got {self.sd_layers!r})")
        if not self.sd_layers:
            raise UserInputError("sd_layers must name at least one UNet block")
        if not 0.0 <= self.sd_weight <= 1.0:
            raise UserInputError(f"sd_weight must lie in [0, 1] (got {self.sd_weight})")
        for name in ("freeu_b1", "freeu_b2", "freeu_s1", "freeu_s2"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise UserInputError(f"{name} must be a finite number >= 0 (got {value})")
        if self.batch_size < 1:
            raise UserInputError(f"batch_size must be at least 1 (got {self.batch_size})")


def check_field_types(config: FusionConfig) -> None:
    """Every bool, int and float field holds that type (``--setting freeu=maybe`` is refused,
    not read as true); an int is accepted where a float is expected."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value, hint = getattr(config, f.name), hints[f.name]
        if hint is bool:
            ok = isinstance(value, bool)
        elif hint is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif hint is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            continue
        if not ok:
            kind = {bool: "true or false", int: "a whole number", float: "a number"}[hint]
            raise UserInputError(f"{f.name} must be {kind} (got {value!r})")


#: GeoAware-SC's zero-shot SPair pipeline (Zhang et al. CVPR 2024, ``configs/eval_zero_shot_spair.yaml``):
#: FreeU on, t = 50, window soft-argmax. ``paper`` is this one.
FUSION_GEOAWARE = FusionConfig()
FUSION_PAPER = FUSION_GEOAWARE
#: sd-dino's SPair pipeline (Zhang et al. NeurIPS 2023, ``pck_spair_pascal.py`` defaults): the same
#: ODISE feature extractor without FreeU, t = 100 (``--TIMESTEP``), nearest-cell argmax; its
#: co-PCA of the pair's SD features is not adopted (see FUSION_AUTHOR_DIFFERENCES).
FUSION_SD_DINO = FusionConfig(timestep=100, freeu=False, refine="argmax")
#: 768/672 px, 48 x 48 grid; see FUSION_FAST_DIFFERENCES.
FUSION_FAST = FusionConfig(sd_resolution=768, sd_window=768, dino_resolution=672, match_side=48)

FUSION_PRESETS: dict[str, FusionConfig] = {
    "paper": FUSION_PAPER, "fast": FUSION_FAST, "geoaware-sc": FUSION_GEOAWARE, "sd-dino": FUSION_SD_DINO,
}
#: The presets named after the paper whose published figure they reproduce.
FUSION_PAPER_PRESETS: dict[str, str] = {
    "geoaware-sc": "GeoAware-SC zero-shot (Zhang et al. CVPR 2024): FreeU on, t = 50, soft-argmax; SPair-71k "
    "PCK@0.1 per point 70.0 with CleanDIFT's SD 1.5 (Stracke et al. 2025)",
    "sd-dino": "SD + DINOv2 (Zhang et al. NeurIPS 2023, sd-dino): no FreeU, t = 100, nearest-cell argmax, "
    "no pose alignment (--flip off); SPair-71k PCK@0.1 ~64 per point (theirs with co-PCA)",
}
#: Presets whose authors ran fp32 (``auto`` precision means float32 on every device).
FUSION_FP32_PRESETS = frozenset({"paper", "geoaware-sc", "sd-dino"})

FUSION_FAST_DIFFERENCES: dict[str, str] = {
    "sd_resolution": "768 px instead of 960 (and DINOv2 672 instead of 840, a 48 x 48 grid instead of 60 x 60): "
    "0.64x the pixels.",
    "sd_window": "one UNet pass over the whole 768 px square instead of 2 x 2 sliding 512 px crops: "
    "2.25 instead of 4 crop-areas of UNet work (SD 1.5 was trained at 512 px; DIFT runs SD at 768).",
}

#: What the ``paper`` / ``geoaware-sc`` / ``sd-dino`` presets do differently from the authors' code, and why (also in the README).
FUSION_AUTHOR_DIFFERENCES: dict[str, str] = {
    "prompt": "empty prompt through SD's CLIP text encoder, instead of ODISE's implicit captioner (a CLIP "
    "image embedding projected by weights trained for ODISE's panoptic segmentation): those weights need "
    "ODISE/detectron2 and a separate checkpoint.",
    "noise": "each image's own noise (generator seeded by the seed and the image's pixels) instead of one "
    "noise tensor shared by every image: shared noise adds a same-position term to every similarity "
    "(DESIGN.md section 3).",
    "descriptor": "a reference keypoint's descriptor is read bilinearly at its exact position instead of "
    "taking the 60 x 60 cell that contains it.",
    "grid": "the fused map is resampled (bilinear) from the padded square onto a grid that covers only the "
    "image (60 cells on its long side), so padding is never predicted; for square images it is the "
    "authors' grid exactly.",
    "co_pca": "sd-dino only: no co-PCA (their default reduces each SD layer to 256 channels by a PCA fitted "
    "on the source and target together): it depends on the pair, so a reference's features could not be "
    "kept and reused; GeoAware-SC's zero-shot pipeline dropped it too.",
    "pose": "the pose with the smaller mean mutual-nearest-neighbour feature distance (the authors' "
    "--MUTUAL_NN) instead of their default, the masked feature distance: its masks come from SAM, a "
    "further model and download; no mask is needed by the mutual-nearest-neighbour criterion.",
}


def fusion_config_for(preset: str, card_settings: dict[str, Any], **overrides: Any) -> FusionConfig:
    """Preset, then the SD model card's ``[fusion]`` table, then explicit overrides."""
    try:
        base = FUSION_PRESETS[preset]
    except KeyError:
        raise UserInputError(f"unknown preset {preset!r}; choose one of {', '.join(FUSION_PRESETS)}") from None
    merged = {**card_settings, **overrides}
    if isinstance(merged.get("sd_layers"), (list, tuple)):
        merged["sd_layers"] = tuple(merged["sd_layers"])
    elif isinstance(merged.get("sd_layers"), str):
        merged["sd_layers"] = (merged["sd_layers"],)
    res = merged.get("sd_resolution")
    if "match_side" not in overrides and isinstance(res, int) and not isinstance(res, bool):
        # the match grid follows the feature grid unless set explicitly
        merged["match_side"] = res // SD_STRIDE
    config = replace_settings(base, merged, "fusion")
    config.validate()
    return config


NON_PREDICTIVE_FIELDS = frozenset({"batch_size"})


def fusion_config_dict(config: FusionConfig) -> dict[str, Any]:
    d = dataclasses.asdict(config)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items() if k not in NON_PREDICTIVE_FIELDS}
