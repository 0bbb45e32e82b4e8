"""Settings of the cross-attention prompt-optimisation engine (Hedlin et al. 2023).

Frozen dataclass; two named presets:

* ``paper``: the authors' code (their ``eval.py`` defaults and ``utils/optimize_token.py``): their
  parameters, their integer crop-start rule, their Gaussian grid, fp32 on every device and their
  fp32 final softmax; only the random draws differ (:data:`PAPER_DEVIATIONS`).
* ``fast``: the labeling default. The same optimisation per embedding, fewer embeddings and
  inference crops, plus window soft-argmax refinement; every difference is listed in
  :data:`FAST_DIFFERENCES`.

Precedence: preset defaults < model-card ``[attention]`` settings (``resolution`` from the card,
``layers``, ``heads``, ``token``, ``timestep_optimize``, ``timestep_infer``) < explicit overrides.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from labeler.correspondence.settings import check_refinement, replace_settings, stable_hash  # noqa: F401 - re-exported
from labeler.errors import UserInputError

Noise = Literal["uniform", "gaussian", "none"]
Refine = Literal["argmax", "soft_argmax"]
MarginRule = Literal["truncate", "inward"]
TargetGrid = Literal["index", "centre"]
Precision = Literal["float32", "device"]
SoftmaxDtype = Literal["float32", "float64"]
Heads = tuple[int, ...] | Literal["upper-half", "all"]

#: Length of the optimised context (CLIP's 77 positions); the text encoder is never run.
CONTEXT_TOKENS = 77

#: Bumped whenever the engine's maths changes in a way that changes predictions.
ALGORITHM_VERSION = 3  # 2: draws keyed by image content; 3: paper = the authors' crop rule, grid, fp32

PAPER_LAYERS = (
    "up_blocks.1.attentions.0",
    "up_blocks.1.attentions.1",
    "up_blocks.1.attentions.2",
    "up_blocks.2.attentions.0",
)


@dataclass(frozen=True)
class AttentionConfig:
    """Everything that shapes the optimisation and the inference of the attention engine.

    Sizes given as fractions are relative to the square working image (``resolution`` pixels).

    * ``layers``: Transformer2D blocks whose cross-attention (``attn2``) maps are used; the UNet
      is run only up to the last of them. ``heads``: head indices, ``"upper-half"`` (heads
      ``n//2..n-1`` of each layer's ``n``; the paper's 4..7 of 8) or ``"all"``. ``token``: index
      of the context position whose attention map is optimised.
    * ``noise``: what is added to the latent by the scheduler at ``timestep_*``. ``"uniform"``
      is the authors' ``torch.rand_like`` (U[0, 1), mean 0.5, not the Gaussian the UNet was
      trained on); all their hyper-parameters (timesteps, sigma, lr, crop size) were tuned with
      it, so both presets keep it. ``"gaussian"`` is the textbook forward process, ``"none"``
      only scales the latent by sqrt(alpha_bar).
    * ``num_embeddings``: independent 77 x D contexts per keypoint (standard-normal init),
      each optimised ``steps`` Adam steps (``lr``), one random crop per step, loss = MSE
      between each layer's head-averaged map (bilinear to ``resolution``) and an un-normalised
      Gaussian of std ``sigma`` centred at the point.
    * ``crop_fraction``: crop side / image side (crop resized back to ``resolution``);
      ``crop_margin``: the point stays this fraction of the crop side away from the crop border
      whenever the image allows it. ``margin_rule``: how that becomes integer crop starts
      (:func:`labeler.correspondence.crops.start_range`): ``"truncate"`` is the authors' rule (margin
      truncated to whole pixels, 71 at 512; range ends truncated), ``"inward"`` keeps the real
      margin and rounds the range inwards, so the rule holds to the sub-pixel.
    * ``target_grid``: where the Gaussian target is evaluated: ``"index"`` at integer pixel
      indices i (the authors' ``gaussian_circle``), ``"centre"`` at pixel centres i + 0.5 (the
      project's continuous convention, consistent with the +0.5 of the read-out).
    * ``precision``: ``"float32"`` runs the model in fp32 on every device (the authors'); ``"device"``
      uses the device default (bf16 / fp16 on GPUs, fp32 on CPUs). An explicit ``dtype`` given to
      :func:`labeler.correspondence.attention.build` wins over either.
    * ``softmax_dtype``: precision of the final per-layer softmax over the image (the authors':
      float32); ties and near-ties of the argmax break by it.
    * ``inference_crops``: crops of the target per embedding; the first (up to) 4 sit at the
      corners, the rest around the embedding's running argmax.
    * ``refine``: ``"argmax"`` (paper: pixel centre of the maximum) or ``"soft_argmax"``
      (softmax with ``soft_temperature`` over a ``soft_window`` window of the log-probability map).
    * ``confidence_radius``: radius of :func:`labeler.correspondence.peaks.mass_near_peak`, as a
      fraction of the image side (0.1 = the PCK@0.1 radius of the image size).
    * ``seed``: seeds the initial contexts, the crops and the noise; every random draw is keyed by
      (seed, purpose, keypoint name / embedding slot, step), so results do not depend on batching.
    * ``batch_size``: UNet batch elements per pass (optimisation and inference); memory only.
    """

    resolution: int = 512
    layers: tuple[str, ...] = PAPER_LAYERS
    heads: Heads = (4, 5, 6, 7)
    token: int = 1
    timestep_optimize: int = 140
    timestep_infer: int = 40
    noise: Noise = "uniform"
    num_embeddings: int = 5
    steps: int = 129
    lr: float = 0.0023755632081200314
    sigma: float = 27.97853316316864 / 512
    crop_fraction: float = 0.9316549294381423
    crop_margin: float = 0.15
    margin_rule: MarginRule = "truncate"
    target_grid: TargetGrid = "index"
    precision: Precision = "float32"
    softmax_dtype: SoftmaxDtype = "float32"
    inference_crops: int = 20
    refine: Refine = "argmax"
    soft_window: int = 11
    soft_temperature: float = 0.02
    confidence_radius: float = 0.1
    seed: int = 0
    batch_size: int = 16

    @property
    def sigma_px(self) -> float:
        return self.sigma * self.resolution

    @property
    def crop_px(self) -> int:
        # The authors truncate: int(512 * 0.9317) = 477.
        return int(self.resolution * self.crop_fraction)

    def validate(self) -> None:
        if self.resolution < 64 or self.resolution % 64:
            raise UserInputError(f"resolution must be a multiple of 64 (got {self.resolution})")
        if not self.layers:
            raise UserInputError("layers must name at least one cross-attention block")
        if isinstance(self.heads, str):
            if self.heads not in ("upper-half", "all"):
                raise UserInputError(f"heads must be a list of indices, 'upper-half' or 'all' (got {self.heads!r})")
        elif not self.heads or min(self.heads) < 0:
            raise UserInputError(f"heads must be non-negative head indices (got {self.heads!r})")
        if not 0 <= self.token < CONTEXT_TOKENS:
            raise UserInputError(f"token must lie in [0, {CONTEXT_TOKENS - 1}] (got {self.token})")
        for name in ("timestep_optimize", "timestep_infer"):
            if not 0 <= getattr(self, name) < 1000:
                raise UserInputError(f"{name} must lie in [0, 999] (got {getattr(self, name)})")
        if self.noise not in ("uniform", "gaussian", "none"):
            raise UserInputError(f"noise must be 'uniform', 'gaussian' or 'none' (got {self.noise!r})")
        for name in ("num_embeddings", "steps", "inference_crops", "batch_size"):
            if getattr(self, name) < 1:
                raise UserInputError(f"{name} must be at least 1 (got {getattr(self, name)})")
        if self.lr <= 0 or self.sigma <= 0:
            raise UserInputError("lr and sigma must be positive")
        if not 0 < self.crop_fraction <= 1:
            raise UserInputError(f"crop_fraction must lie in (0, 1] (got {self.crop_fraction})")
        if not 0 <= self.crop_margin < 0.5:
            raise UserInputError(f"crop_margin must lie in [0, 0.5) (got {self.crop_margin})")
        for name, allowed in (
            ("margin_rule", ("truncate", "inward")),
            ("target_grid", ("index", "centre")),
            ("precision", ("float32", "device")),
            ("softmax_dtype", ("float32", "float64")),
        ):
            if getattr(self, name) not in allowed:
                choices = " or ".join(repr(a) for a in allowed)
                raise UserInputError(f"{name} must be {choices} (got {getattr(self, name)!r})")
        if self.crop_px < 8:
            raise UserInputError("crop_fraction * resolution must be at least 8 pixels")
        check_refinement(self.refine, self.soft_window, self.soft_temperature)
        if not 0 < self.confidence_radius < 1:
            raise UserInputError(f"confidence_radius must lie in (0, 1) (got {self.confidence_radius})")


#: The authors' parameters (eval.py defaults: 5 x 129 steps, 20 inference crops, t 140 / 40).
PAPER = AttentionConfig()

#: Labeling default; see FAST_DIFFERENCES.
FAST = dataclasses.replace(
    PAPER,
    num_embeddings=2,
    inference_crops=8,
    refine="soft_argmax",
    margin_rule="inward",
    target_grid="centre",
    precision="device",
    softmax_dtype="float64",
)

PRESETS: dict[str, AttentionConfig] = {"paper": PAPER, "fast": FAST}

FAST_DIFFERENCES: dict[str, str] = {
    "num_embeddings": "2 optimised contexts per keypoint instead of 5: 2.5x less optimisation "
    "and inference work; averaging fewer maps leaves more noise in the final map.",
    "inference_crops": "8 target crops per context (4 corners + 4 around the running argmax) "
    "instead of 20 (4 + 16): 2.5x less inference work; with the 2 contexts 6.25x less in all.",
    "refine": "window soft-argmax (11x11 pixels at the working resolution, temperature 0.02, on "
    "the log of the final probability map; GeoAware-SC) instead of the pixel centre of the argmax.",
    "margin_rule": "the margin is 0.15 x crop side as a real number (71.55 px at 512) and the crop-start "
    "range is rounded inwards, so the point is always at least that far from the border; the authors "
    "truncate margin and range ends (71 px): at 512 px, for 71 of the 512 pixel centres per axis "
    "(pixels 72-106 and 405-440) the range ends differ by up to 2 px, so crop sequences differ there.",
    "target_grid": "the Gaussian target is evaluated at pixel centres (i + 0.5), the convention of "
    "the read-out (argmax + 0.5); the authors evaluate it at i (their target sits 0.5 px up-left).",
    "precision": "the device's default precision (bf16 on recent CUDA GPUs, fp16 on older ones and on "
    "MPS; fp32 on CPUs) instead of fp32 everywhere: about 2x faster on GPUs; bf16 changes the "
    "gradients by ~6% (cosine 0.998) and the maps by up to 3% of their peak.",
    "softmax_dtype": "the final per-layer softmax over the image in float64 instead of float32 "
    "(near-ties of the argmax can break differently).",
}

#: Where even the paper preset differs from the authors' code, and why.
PAPER_DEVIATIONS: dict[str, str] = {
    "randomness": "the initial contexts, crop starts and noise come from generators seeded per "
    "(seed, purpose, image content, keypoint name, context, step) instead of the process-global "
    "RNG, so a run is reproducible and independent of batching; the distributions are the authors' "
    "(standard-normal contexts, a uniform integer start in the same range, uniform [0, 1) noise). "
    "Fed the same draws (benchmarks/attention_parity.py), the authors' code and this engine agree "
    "to float rounding: identical crops, bit-identical step-1 loss, contexts within 2.4e-7 after 3 "
    "Adam steps, the same predicted points. The draws themselves matter as much as a change of seed "
    "in the authors' code (on a random-weight model, 3 steps: 179 px for one point; not measured "
    "on real weights).",
}

#: Fields that never change predictions (left out of signatures).
NON_PREDICTIVE_FIELDS = frozenset({"batch_size"})
#: Fields that shape the optimised contexts (the reference state); the rest only shape inference.
REFERENCE_FIELDS = frozenset(
    {
        "resolution", "layers", "heads", "token", "timestep_optimize", "noise", "num_embeddings",
        "steps", "lr", "sigma", "crop_fraction", "crop_margin", "margin_rule", "target_grid",
        "precision", "seed",
    }
)

#: Model-card keys of the [attention] table this config accepts.
CARD_FIELDS = ("layers", "heads", "token", "timestep_optimize", "timestep_infer")


def _normalise(overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(overrides)
    if "layers" in out and not isinstance(out["layers"], str):
        out["layers"] = tuple(out["layers"])
    elif "layers" in out:
        out["layers"] = (out["layers"],)
    if "heads" in out and not isinstance(out["heads"], str):
        out["heads"] = tuple(int(h) for h in out["heads"])
    return out


def with_overrides(config: AttentionConfig, overrides: dict[str, Any]) -> AttentionConfig:
    """``config`` with fields replaced; unknown names give a message listing the valid ones."""
    return replace_settings(config, _normalise(overrides), "attention")


def card_overrides(resolution: int | None, settings: dict[str, Any]) -> dict[str, Any]:
    """The config fields a model card sets: its resolution and its [attention] table."""
    out = {k: settings[k] for k in CARD_FIELDS if k in settings}
    if resolution is not None:
        out["resolution"] = int(resolution)
    return _normalise(out)


def config_dict(config: AttentionConfig, fields: frozenset[str] | None = None) -> dict[str, Any]:
    """JSON-ready fields (``fields`` only, if given), without the non-predictive ones."""
    d = dataclasses.asdict(config)
    return {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in d.items()
        if k not in NON_PREDICTIVE_FIELDS and (fields is None or k in fields)
    }
