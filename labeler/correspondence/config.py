"""Settings of the dense-feature engines (DIFT and the weight-free classical matcher).

Frozen dataclasses; ``*_PRESETS`` name the two presets every engine offers:

* ``paper``: the authors' parameters, nothing changed (DIFT: Tang et al. 2023, SPair evaluation).
* ``fast``: the labeling default. Same features and the same matching maths; fewer repetitions
  where the authors say it matters little, plus sub-pixel refinement. Every difference from
  ``paper`` is listed in :data:`DIFT_FAST_DIFFERENCES`.

For DIFT the model card supplies ``resolution``, ``timestep`` and ``feature_block`` (they belong
to the checkpoint, not to the preset); explicit overrides replace any field last.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from labeler.correspondence.settings import check_refinement, replace_settings, stable_hash  # noqa: F401 - re-exported
from labeler.errors import UserInputError

Refine = Literal["argmax", "soft_argmax"]
#: How flip-aware matching chooses between a reference's plain and mirrored pose.
POSE_CRITERIA = ("confidence", "mutual_nn")
Combine = Literal["max", "mean"]

#: Bumped whenever the engines' maths changes in a way that changes predictions.
ALGORITHM_VERSION = 1
#: DIFT's own version (2: per-image noise keyed by image content, references with their own ensemble).
DIFT_ALGORITHM_VERSION = 2


@dataclass(frozen=True)
class MatchSettings:
    """How a target feature map is turned into points; shared by every dense-feature engine.

    ``match_side``: long side, in cells, of the grid on which similarity is evaluated and the
    peak is taken (aspect kept, so cells are square); ``None`` = the target's original pixels
    (what the DIFT authors did). ``margin_radius``: radius of the confidence's exclusion disc,
    as a fraction of the grid's long side. ``pose``: how flip-aware matching picks a target's
    pose, ``"confidence"`` or ``"mutual_nn"`` (see :attr:`Matcher.pose_criterion`).
    """

    match_side: int | None = 768
    refine: Refine = "soft_argmax"
    soft_window: int = 11
    soft_temperature: float = 0.02
    combine: Combine = "max"
    margin_radius: float = 0.05
    pose: str = "confidence"


@dataclass(frozen=True)
class DiftConfig:
    """DIFT feature extraction and matching.

    ``ensemble``: noisy copies of each target image whose features are averaged;
    ``reference_ensemble`` the same for reference images (one image: 8 copies cost little and
    steady its descriptors in every preset). ``noise``: add diffusion noise at ``timestep``
    (DIFT); off for noise-free checkpoints such as CleanDIFT, which still condition on
    ``timestep``. ``prompt`` is used as given unless ``category`` is set, in which case
    ``prompt_template`` is filled with it (the authors' SPair evaluation: "a photo of a
    {category}"). ``seed``: every image draws its latent sample and noise from a generator
    seeded by (``seed``, its resized pixels), so a run is reproducible, independent of how
    images are batched, and no two images share noise (shared noise biases every match toward
    the reference point's own position). ``batch_size``: target images per VAE/UNet pass (does
    not change predictions).
    """

    resolution: int = 768
    timestep: int = 261
    feature_block: str = "up_blocks.1"
    ensemble: int = 8
    reference_ensemble: int = 8
    noise: bool = True
    prompt: str = ""
    category: str = ""
    prompt_template: str = "a photo of a {category}"
    seed: int = 0
    match_side: int | None = None
    refine: Refine = "argmax"
    soft_window: int = 11
    soft_temperature: float = 0.02
    combine: Combine = "max"
    margin_radius: float = 0.05
    batch_size: int = 4

    @property
    def effective_prompt(self) -> str:
        if self.category:
            return self.prompt_template.format(category=self.category)
        return self.prompt

    @property
    def matching(self) -> MatchSettings:
        return _matching(self)

    def validate(self) -> None:
        _validate_matching(self)
        if self.resolution < 64 or self.resolution % 64:
            raise UserInputError(f"resolution must be a multiple of 64 (got {self.resolution})")
        if not 0 <= self.timestep < 1000:
            raise UserInputError(f"timestep must lie in [0, 999] (got {self.timestep})")
        if self.ensemble < 1 or self.reference_ensemble < 1:
            raise UserInputError(
                f"ensemble and reference_ensemble must be at least 1 (got {self.ensemble}, {self.reference_ensemble})"
            )
        if self.batch_size < 1:
            raise UserInputError(f"batch_size must be at least 1 (got {self.batch_size})")
        if self.category and "{category}" not in self.prompt_template:
            raise UserInputError("prompt_template must contain {category}")


@dataclass(frozen=True)
class ClassicalConfig:
    """Dense upright SIFT on a grid (OpenCV), RootSIFT-normalised; no weights, no download.

    Each image becomes a grayscale working image whose long side is ``work_side`` pixels (aspect
    kept). Descriptors are computed every ``step`` working pixels with SIFT size ``size``
    (OpenCV's keypoint size: the descriptor's 4 x 4 bins span 6 x size pixels). The
    reference is described at every size in ``size * reference_scales`` so that a target whose
    content is larger or smaller (0.7x..1.4x) still finds a matching descriptor; the best of those
    scales wins per pixel.
    """

    work_side: int = 512
    step: int = 8
    size: float = 6.0
    reference_scales: tuple[float, ...] = (0.7071, 1.0, 1.4142)
    root_sift: bool = True
    match_side: int | None = 512
    refine: Refine = "soft_argmax"
    soft_window: int = 11
    soft_temperature: float = 0.02
    combine: Combine = "max"
    margin_radius: float = 0.05
    batch_size: int = 8

    @property
    def matching(self) -> MatchSettings:
        return _matching(self)

    def validate(self) -> None:
        _validate_matching(self)
        if self.work_side < 32:
            raise UserInputError(f"work_side must be at least 32 (got {self.work_side})")
        if not 1 <= self.step <= self.work_side // 4:
            raise UserInputError(f"step must lie in [1, work_side/4] (got {self.step})")
        if self.size <= 0 or not self.reference_scales or min(self.reference_scales) <= 0:
            raise UserInputError("size and reference_scales must be positive")
        if self.batch_size < 1:
            raise UserInputError(f"batch_size must be at least 1 (got {self.batch_size})")


def _matching(cfg: Any) -> MatchSettings:
    return MatchSettings(
        match_side=cfg.match_side,
        refine=cfg.refine,
        soft_window=cfg.soft_window,
        soft_temperature=cfg.soft_temperature,
        combine=cfg.combine,
        margin_radius=cfg.margin_radius,
        pose=getattr(cfg, "pose", "confidence"),
    )


def _validate_matching(cfg: Any) -> None:
    check_refinement(cfg.refine, cfg.soft_window, cfg.soft_temperature)
    if cfg.combine not in ("max", "mean"):
        raise UserInputError(f"combine must be 'max' or 'mean' (got {cfg.combine!r})")
    if cfg.match_side is not None and cfg.match_side < 8:
        raise UserInputError(f"match_side must be at least 8 or None (got {cfg.match_side})")
    if not 0 < cfg.margin_radius < 1:
        raise UserInputError(f"margin_radius must lie in (0, 1) (got {cfg.margin_radius})")
    if getattr(cfg, "pose", "confidence") not in POSE_CRITERIA:
        raise UserInputError(f"pose must be one of {', '.join(POSE_CRITERIA)} (got {cfg.pose!r})")


#: The DIFT authors' SPair-71k evaluation (SD2.1 card: 768 px, t=261, up_blocks[1]).
DIFT_PAPER = DiftConfig(ensemble=8, match_side=None, refine="argmax")
#: Labeling default; see DIFT_FAST_DIFFERENCES.
DIFT_FAST = DiftConfig(ensemble=1, match_side=768, refine="soft_argmax")

DIFT_PRESETS: dict[str, DiftConfig] = {"paper": DIFT_PAPER, "fast": DIFT_FAST}

DIFT_FAST_DIFFERENCES: dict[str, str] = {
    "ensemble": "1 noisy copy instead of 8: the authors say the ensemble only stabilises the noise "
    "and can be lowered; 8x less UNet work per target. References keep 8 (one image, cheap).",
    "refine": "window soft-argmax (11x11 cells, temperature 0.02; GeoAware-SC) instead of the plain "
    "argmax: sub-cell positions instead of whole-pixel ones.",
    "match_side": "similarity evaluated on a grid of 768 cells on the long side (aspect kept) instead "
    "of the target's original pixels: bounded cost for large photos; the 11-cell soft-argmax "
    "window then always covers the same share (1.4%) of the image.",
}

#: The classical matcher has no paper; both presets are the same configuration.
CLASSICAL_DEFAULT = ClassicalConfig()
CLASSICAL_PRESETS: dict[str, ClassicalConfig] = {"paper": CLASSICAL_DEFAULT, "fast": CLASSICAL_DEFAULT}

C = TypeVar("C", DiftConfig, ClassicalConfig)


def with_overrides(config: C, overrides: dict[str, Any]) -> C:
    """``config`` with fields replaced; unknown names give a message listing the valid ones."""
    if "reference_scales" in overrides:
        overrides = {**overrides, "reference_scales": tuple(overrides["reference_scales"])}
    engine = "DIFT" if isinstance(config, DiftConfig) else "classical"
    return replace_settings(config, overrides, engine)


#: Fields that never change predictions (left out of signatures).
NON_PREDICTIVE_FIELDS = frozenset({"batch_size"})


def config_dict(config: DiftConfig | ClassicalConfig) -> dict[str, Any]:
    d = dataclasses.asdict(config)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items() if k not in NON_PREDICTIVE_FIELDS}
