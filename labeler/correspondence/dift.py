"""DIFT (Tang et al. 2023): Stable Diffusion UNet features of a noised image, matched by cosine.

Feature extraction, as in the authors' ``SDFeaturizer``: resize to the card's resolution (aspect
not kept, PIL bicubic), scale to [-1, 1], VAE-encode, sample the latent and scale it, add DDIM
noise at ``timestep``, run the UNet once with the prompt embedding and keep the output of
``feature_block`` (``up_blocks.1`` after its upsampler; 1280 channels at 1/16 resolution on
SD2.1). ``ensemble`` noisy copies are averaged. Matching lives in :mod:`features`.

Differences from the authors' code that do not change the distribution of the result:

* the image is VAE-encoded once and the ``ensemble`` latents are drawn from that one posterior
  (the authors encode the repeated image ``ensemble`` times, which draws from the same one);
* the UNet stops after ``feature_block`` through :func:`truncation.run_until` (no copied forward);
* several target images share one VAE and one UNet pass;
* the authors draw fresh noise on every call, so source and target never share it; here every
  image draws its latent samples and noise from its own CPU generator seeded by (``seed``, a hash
  of its resized pixels): the same independence between images, plus reproducible results that
  do not depend on batching or device (the draws are moved to the device). Shared noise would add
  a same-position term to every similarity: on the tiny model unrelated images then matched the
  reference point's own cell 59% of the time instead of 7% (ensemble 1; ``benchmarks/noise_bias.py``);
* reference images are described with ``reference_ensemble`` (8) noisy copies in every preset;
  targets use the preset's ``ensemble``.

``noise = false`` (CleanDIFT cards): the clean latent goes into the UNet, still conditioned on
``timestep``, as the CleanDIFT authors do.

Speed (measured by ``benchmarks/``; each change has a test that it gives the straightforward
computation's result): images travel to the device as bytes and are scaled there; on CUDA the
VAE and UNet run channels-last (see :func:`channels_last_parts`).

``dtype="bfloat16"`` on a CPU with native bf16 (AVX512-BF16/AMX) runs the VAE encoder, ~70% of the
CPU time, under bf16 autocast (~2x faster there); weights and the UNet stay fp32. On the real-size
random SD1.5 model this moved features by 0.13% (changing the noise seed moves them by 84%) and
no predicted keypoint by more than 0.002 px; opt-in, since it is not bit-compatible with fp32.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from labeler.correspondence.cards import card_for_unet_file, find_card
from labeler.correspondence.config import (
    DIFT_ALGORITHM_VERSION,
    DIFT_PRESETS,
    DiftConfig,
    config_dict,
    stable_hash,
    with_overrides,
)
from labeler.correspondence.device import resolve_device, resolve_dtype
from labeler.correspondence.features import DenseFeatureMatcher, translate_oom
from labeler.correspondence.loading import SDComponents, load_sd
from labeler.correspondence.truncation import run_until
from labeler.errors import UserInputError
from labeler.parallel import map_images

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sd-2-1"
METHOD = "dift"
SD_PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
#: Settings a model card's [dift] table may give (they belong to the checkpoint, not the preset).
CARD_FIELDS = ("timestep", "feature_block", "noise", "ensemble", "reference_ensemble")


def config_for(preset: str, card_settings: dict[str, Any], card_resolution: int | None, **overrides: Any) -> DiftConfig:
    """Preset, then the model card's resolution and :data:`CARD_FIELDS`, then explicit overrides."""
    try:
        base = DIFT_PRESETS[preset]
    except KeyError:
        raise UserInputError(f"unknown preset {preset!r}; choose one of {', '.join(DIFT_PRESETS)}") from None
    from_card: dict[str, Any] = {k: card_settings[k] for k in CARD_FIELDS if k in card_settings}
    if card_resolution is not None:
        from_card["resolution"] = card_resolution
    return with_overrides(base, {**from_card, **overrides})


def model_identity(comps: SDComponents) -> tuple[str, str]:
    """(source, revision) naming the weights, stable across runs: hub id + revision, folder path,
    or for tiny-random its build fingerprint (not the cache path); plus the UNet file that replaced
    the UNet, if any."""
    card = comps.card
    unet = comps.extra.get("unet_file")
    suffix = f"+unet:{unet}" if unet else ""
    if card is not None and card.key == "tiny-random":
        return Path(comps.source).name + suffix, ""
    if card is not None and comps.source in card.candidates:
        return comps.source + suffix, card.revision
    path = Path(comps.source)
    return (str(path.resolve()) if path.exists() else comps.source) + suffix, ""


def channels_last_parts(device: torch.device) -> frozenset[str]:
    """Models that run in channels-last (NHWC) memory format on ``device`` by default.

    CUDA: both, the layout of cuDNN's tensor-core convolution kernels (not yet measured on a GPU:
    ``benchmarks/README.md`` says how to compare). CPU: neither. On a 2-core AVX-512 CPU oneDNN's
    NHWC kernels made the VAE encoder ~7% faster (CPU time) but 15-40x less accurate in fp32
    (relative error vs float64 3e-5 instead of 1e-6) and batch-dependent to 1e-3 on the tiny test
    model, which would break "results do not depend on batching"; the UNet got ~3% slower.
    """
    return frozenset({"vae", "unet"}) if device.type == "cuda" else frozenset()


def resized_uint8(images: Sequence[np.ndarray], resolution: int) -> torch.Tensor:
    """``(B, r, r, 3)`` uint8: PIL bicubic resize to r x r (aspect not kept), as the authors; images in parallel."""

    def resize(image: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(image).resize((resolution, resolution), Image.Resampling.BICUBIC), dtype=np.uint8)

    return torch.from_numpy(np.stack(map_images(resize, images)))


def model_input(pixels: torch.Tensor, device: torch.device, dtype: torch.dtype, channels_last: bool) -> torch.Tensor:
    """``(B, 3, r, r)`` in [-1, 1] on ``device`` from :func:`resized_uint8` pixels.

    The bytes travel to the device (4x less than floats) and are scaled there in float32, the same
    arithmetic as before the move. ``(B, r, r, 3)`` memory viewed as ``(B, 3, r, r)`` already is the
    channels-last layout, so it needs no copy when the VAE runs channels-last.
    """
    x = pixels.to(device, non_blocking=True).permute(0, 3, 1, 2)
    if not channels_last:
        x = x.contiguous()  # reorder the bytes, not the floats
    return (x.float() / 255.0 * 2.0 - 1.0).to(dtype)


def cpu_bf16_supported() -> bool:
    """Whether this CPU computes bf16 natively (oneDNN); emulated bf16 would be slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def encoder_autocast(device: torch.device, dtype_request: str) -> torch.dtype | None:
    """The autocast dtype of the VAE encoder: bf16 when asked for on a CPU that has it, else None."""
    if device.type == "cpu" and dtype_request == "bfloat16":
        if cpu_bf16_supported():
            return torch.bfloat16
        log.warning("this CPU has no native bfloat16: DIFT runs in float32")
    return None


def preprocess(images: Sequence[np.ndarray], resolution: int) -> torch.Tensor:
    """``(B, 3, r, r)`` float32 in [-1, 1] (contiguous, CPU): resize as the authors, scale to [-1, 1]."""
    return model_input(resized_uint8(images, resolution), torch.device("cpu"), torch.float32, channels_last=False)


class DiftFeaturizer:
    """SD components plus the cached prompt embedding; ``(B, C, h, w)`` features for a batch of images."""

    def __init__(self, comps: SDComponents, config: DiftConfig, device: torch.device, dtype: torch.dtype) -> None:
        self.comps = comps
        self.config = config
        self.device = device
        self.dtype = dtype
        try:
            comps.unet.get_submodule(config.feature_block)
        except AttributeError:
            raise UserInputError(
                f"the UNet of {comps.model_id} has no block {config.feature_block!r}"
            ) from None
        self.prompt_embeds = self._encode_prompt(config.effective_prompt)
        # Only the encoder half of the VAE and the prompt embedding are needed from now on.
        comps.vae.decoder = None
        comps.text_encoder = None
        comps.tokenizer = None
        #: Autocast dtype of the VAE encoder (CPU bf16, see :func:`encoder_autocast`); None = off.
        self.vae_autocast: torch.dtype | None = None
        self.channels_last: frozenset[str] = frozenset()
        self.use_channels_last(channels_last_parts(device))

    def use_channels_last(self, parts: frozenset[str] | set[str]) -> None:
        """Run the models named in ``parts`` ("vae", "unet") channels-last, the others contiguous."""
        self.channels_last = frozenset(parts)
        for name in ("vae", "unet"):
            fmt = torch.channels_last if name in self.channels_last else torch.contiguous_format
            getattr(self.comps, name).to(memory_format=fmt)

    def _encode_prompt(self, prompt: str) -> torch.Tensor:
        tok = self.comps.tokenizer
        ids = tok(
            prompt, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt"
        ).input_ids.to(self.device)
        with torch.inference_mode():
            return self.comps.text_encoder(ids)[0].to(self.dtype).clone()  # (1, 77, D)

    def to(self, device: torch.device, dtype: torch.dtype) -> None:
        self.comps.to(device, dtype)
        self.prompt_embeds = self.prompt_embeds.to(device=device, dtype=dtype)
        self.device, self.dtype = device, dtype
        self.use_channels_last(channels_last_parts(device))

    def image_draws(self, pixels: torch.Tensor, latent_shape: tuple[int, ...], ensemble: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One image's posterior samples and diffusion noise, ``(E, ...)`` each, on the CPU.

        From a CPU generator seeded by (seed, the image's resized pixels): the same draws on every
        device and in every batch, different draws for different images.
        """
        gen = image_generator(self.config.seed, pixels)
        eps = torch.randn((ensemble, *latent_shape), generator=gen)
        noise = torch.randn((ensemble, *latent_shape), generator=gen)
        return eps, noise

    @torch.inference_mode()
    def __call__(self, images: Sequence[np.ndarray], ensemble: int | None = None) -> torch.Tensor:
        """``(B, C, h, w)`` float32 features, each image averaged over ``ensemble`` (default: the config's) draws."""
        cfg, vae, unet = self.config, self.comps.vae, self.comps.unet
        pixels = resized_uint8(images, cfg.resolution)
        x = model_input(pixels, self.device, self.dtype, "vae" in self.channels_last)
        b, e = x.shape[0], ensemble or cfg.ensemble
        mixed = self.vae_autocast is not None
        with torch.autocast("cpu", dtype=self.vae_autocast) if mixed else contextlib.nullcontext():
            posterior = vae.encode(x).latent_dist
        mean, std = posterior.mean.to(self.dtype), posterior.std.to(self.dtype)
        shape = tuple(mean.shape[1:])
        # On the CPU, in the host pool (hashing and torch's generators release the GIL), while an
        # accelerator is still busy with the VAE.
        draws = map_images(lambda p: self.image_draws(p, shape, e), list(pixels))
        to = {"device": self.device, "dtype": self.dtype, "non_blocking": True}
        eps = torch.stack([d[0] for d in draws]).to(**to)  # (B, E, ...)
        # (B, 1, ...) + (B, 1, ...) * (B, E, ...): every image with its own E draws, flattened to B*E.
        latents = mean[:, None] + std[:, None] * eps
        latents = latents.reshape(b * e, *shape).contiguous() * vae.config.scaling_factor
        t = torch.full((b * e,), cfg.timestep, dtype=torch.long, device=self.device)
        if cfg.noise:
            noise = torch.cat([d[1] for d in draws]).to(**to)
            latents = self.comps.scheduler.add_noise(latents, noise, t)
        context = self.prompt_embeds.expand(b * e, -1, -1)
        feats = run_until(unet, cfg.feature_block, latents, t, encoder_hidden_states=context)
        if isinstance(feats, tuple):
            feats = feats[0]
        return feats.float().reshape(b, e, *feats.shape[1:]).mean(1)


def image_generator(seed: int, pixels: torch.Tensor) -> torch.Generator:
    """A CPU generator seeded by ``seed`` and the bytes (and shape) of one image's resized pixels."""
    data = pixels.contiguous().numpy()
    digest = hashlib.sha256(repr((int(seed), tuple(data.shape))).encode() + data.tobytes()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


class DiftMatcher(DenseFeatureMatcher):
    """DIFT engine. Confidence: relative margin of the cosine-similarity peak (see :mod:`peaks`)."""

    method = METHOD

    def __init__(self, comps: SDComponents, config: DiftConfig, device: torch.device, dtype_request: str) -> None:
        super().__init__(config.matching, config.batch_size)
        self.config = config
        self._dtype_request = dtype_request
        dtype = resolve_dtype(dtype_request, device)
        self.model_source, self.model_revision = model_identity(comps)
        self.featurizer = DiftFeaturizer(comps, config, device, dtype)
        self.featurizer.vae_autocast = encoder_autocast(device, dtype_request)

    @property
    def device(self) -> str:
        return str(self.featurizer.device)

    @property
    def dtype(self) -> torch.dtype:
        return self.featurizer.dtype

    def _model_identity(self) -> dict[str, Any]:
        return {"method": METHOD, "version": DIFT_ALGORITHM_VERSION, "model": self.model_source, "revision": self.model_revision}

    @property
    def reference_signature(self) -> str:
        c = self.config
        payload = {
            **self._model_identity(),
            "resolution": c.resolution,
            "timestep": c.timestep,
            "feature_block": c.feature_block,
            "reference_ensemble": c.reference_ensemble,
            "noise": c.noise,
            "prompt": c.effective_prompt,
            "seed": c.seed,
        }
        return f"{METHOD}:{stable_hash(payload)}"

    @property
    def compute_dtype(self) -> str:
        """What the numbers were computed in (signatures record it: bf16 and fp32 predictions differ)."""
        auto = self.featurizer.vae_autocast
        return str(self.dtype).removeprefix("torch.") + (f"+{str(auto).removeprefix('torch.')}-encoder" if auto else "")

    @property
    def signature(self) -> str:
        payload = {**self._model_identity(), **config_dict(self.config), "dtype": self.compute_dtype}
        return f"{METHOD}:{stable_hash(payload)}"

    def _feature_maps(self, images: Sequence[np.ndarray]) -> list[torch.Tensor]:
        return list(self.featurizer(images))

    def _reference_maps(self, image: np.ndarray) -> torch.Tensor:
        return self.featurizer([image], ensemble=self.config.reference_ensemble)

    def _reference_meta(self) -> dict[str, Any]:
        c = self.config
        return {
            "model": self.model_source,
            "resolution": c.resolution,
            "timestep": c.timestep,
            "feature_block": c.feature_block,
            "ensemble": c.reference_ensemble,
            "noise": c.noise,
            "prompt": c.effective_prompt,
        }

    def to(self, device: str) -> None:
        dev = resolve_device(device)
        with translate_oom(f"moving the model to {dev}"):
            self.featurizer.to(dev, resolve_dtype(self._dtype_request, dev))
        self.featurizer.vae_autocast = encoder_autocast(dev, self._dtype_request)

    def close(self) -> None:
        self.featurizer.comps = None  # type: ignore[assignment]
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def build(
    model: str, preset: str, device: str = "auto", dtype: str = "auto", *, unet_file: str | None = None, **overrides: Any
) -> DiftMatcher:
    """A DIFT matcher for ``model`` (card key, hub id, local folder, .safetensors or tiny-random);
    ``unet_file``: a UNet state dict (.safetensors, e.g. CleanDIFT's) replacing the model's UNet."""
    card = find_card(model)
    if card is None and unet_file:
        card = card_for_unet_file(unet_file)  # a local copy of a card's UNet file takes its settings
    card_settings = card.method_settings(METHOD) if card is not None else {}
    config = config_for(preset, card_settings, card.resolution if card is not None else None, **overrides)
    dev = resolve_device(device)
    comps = load_sd(model, device=dev, dtype=resolve_dtype(dtype, dev), parts=SD_PARTS, unet_file=unet_file)
    if card is None and "resolution" not in overrides:
        # No card: SD2.x checkpoints were trained at 768 px, SD1.x at 512 px.
        config = with_overrides(config, {"resolution": 768 if comps.family == "sd2" else 512})
    return DiftMatcher(comps, config, dev, dtype)
