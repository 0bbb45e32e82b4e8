"""SD + DINOv2 feature fusion (Zhang et al. 2023 "A Tale of Two Features"; zero-shot GeoAware-SC, CVPR 2024).

Per image, as the authors' zero-shot SPair pipeline (``preprocess_map.py``, ``pck_train.py`` with
``DUMMY_NET``; parameters in :mod:`fusion_config`):

* SD: the image is resized into a ``sd_resolution`` square (aspect kept, LANCZOS, zero padding)
  and cut into ``sd_window`` crops as ODISE's sliding inference (960 px: 2 x 2 crops of 512 px).
  Each crop is scaled to [-1, 1], VAE-encoded (posterior mean, no sample) and scaled, noised at
  ``timestep`` and passed once through the UNet with the prompt embedding. The outputs of
  ``sd_layers`` (s5, s4, s3: the second layer of up blocks 0, 1, 2) are kept; the UNet stops after
  the last (:func:`truncation.run_until`; nothing after ``up_blocks[2].attentions[1]`` runs). With
  ``freeu`` (GeoAware-SC; not sd-dino) the decoder runs with FreeU as their ODISE copy applies it
  and the taps read the scaled tensors (:mod:`freeu`). Crop
  maps are placed at their offsets and averaged where they overlap; s4 and s5 are bilinearly
  upsampled to s3's grid and the three concatenated (3200 channels on SD 1.5).
* DINOv2: the image resized into a ``dino_resolution`` square the same way, ImageNet-normalised,
  tokens of block ``dino_layer`` (:mod:`dinov2`; 768 channels on ViT-B/14) on the same grid.
* Each half is L2-normalised per cell, weighted (``sd_weight``; 0.5 = the authors' equal weights,
  so the cosine is the mean of the two halves' cosines) and concatenated.

The fused map lives on the padded square; it is resampled bilinearly onto a grid of ``grid`` cells
on the image's long side that covers only the image (for a square image this is the authors' grid
exactly), so every engine convention of :mod:`features` holds and padding is never predicted.
Matching, several references, refinement and confidence are :class:`features.DenseFeatureMatcher`'s.

Every image draws its diffusion noise from its own generator, seeded by ``seed`` and a hash of its
resized pixels: reproducible, independent of batching, and never shared between reference and target.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from labeler.correspondence import dinov2 as dino_mod
from labeler.correspondence.cards import find_card
from labeler.correspondence.device import resolve_device, resolve_dtype
from labeler.correspondence.dift import model_identity
from labeler.correspondence.features import DenseFeatureMatcher, match_grid, translate_oom
from labeler.correspondence.freeu import FreeU, freeu_hooks
from labeler.correspondence.fusion_config import (
    FUSION_FP32_PRESETS,
    FUSION_VERSION,
    FusionConfig,
    fusion_config_dict,
    fusion_config_for,
)
from labeler.correspondence.loading import SDComponents, load_sd
from labeler.correspondence.settings import stable_hash
from labeler.correspondence.truncation import run_until
from labeler.errors import UserInputError
from labeler.parallel import map_images

DEFAULT_MODEL = "sd-1-5"
METHOD = "fusion"
SD_PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


# --------------------------------------------------------------------------- geometry


def content_box(size: tuple[int, int], side: int) -> tuple[int, int, int, int]:
    """``(left, top, width, height)`` of an image of ``size`` (W, H) inside the ``side`` square,
    as the authors' ``resize(img, side, resize=True)``: long side = ``side``, short side rounded,
    centred with the odd pixel of padding at the end."""
    w, h = size
    if h <= w:
        ch = max(1, int(np.around(side * h / w)))
        return 0, (side - ch) // 2, side, ch
    cw = max(1, int(np.around(side * w / h)))
    return (side - cw) // 2, 0, cw, side


def pad_to_square(image: np.ndarray, side: int) -> np.ndarray:
    """``(side, side, 3)`` uint8: LANCZOS resize with aspect kept, zero padding (the authors' ``resize``)."""
    h, w = image.shape[:2]
    left, top, cw, ch = content_box((w, h), side)
    canvas = np.zeros((side, side, 3), dtype=np.uint8)
    resized = Image.fromarray(image).resize((cw, ch), Image.Resampling.LANCZOS)
    canvas[top : top + ch, left : left + cw] = np.asarray(resized, dtype=np.uint8)
    return canvas


def squares(images: Sequence[np.ndarray], side: int) -> torch.Tensor:
    """``(B, side, side, 3)`` uint8 of :func:`pad_to_square`, images in parallel."""
    return torch.from_numpy(np.stack(map_images(lambda im: pad_to_square(im, side), images)))


def onto_image_grid(fmap: torch.Tensor, size: tuple[int, int], side: int, grid: int) -> torch.Tensor:
    """``(C, gh, gw)``: the map of the padded ``side`` square read bilinearly at the centres of a
    grid of ``grid`` cells on the image's long side that covers the image only."""
    w, h = size
    gw, gh = match_grid(size, grid)
    left, top, cw, ch = content_box(size, side)
    dev = fmap.device
    u = (torch.arange(gw, device=dev, dtype=torch.float64) + 0.5) / gw
    v = (torch.arange(gh, device=dev, dtype=torch.float64) + 0.5) / gh
    xs = (left + u * cw) / side * 2.0 - 1.0
    ys = (top + v * ch) / side * 2.0 - 1.0
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx, gy], dim=-1)[None].to(fmap.dtype)
    out = F.grid_sample(fmap[None], pts, mode="bilinear", padding_mode="border", align_corners=False)
    return out[0]


def window_starts(side: int, window: int) -> list[int]:
    """Offsets of the sliding crops along one axis (ODISE's ``slide_forward``: stride = window,
    the last crop flush with the end): 960 / 512 -> [0, 448]."""
    n = max(side - window + window - 1, 0) // window + 1
    return sorted({min(i * window, side - window) for i in range(n)})


def content_seed(seed: int, pixels: np.ndarray) -> int:
    """A generator seed from ``seed`` and an image's resized pixels (its content, not its batch)."""
    digest = hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).digest()
    return (int.from_bytes(digest[:8], "little") ^ (seed * 0x9E3779B97F4A7C15)) % (1 << 63)


def freeu_of(config: FusionConfig) -> FreeU | None:
    """The FreeU scales the UNet runs with under ``config``; None when FreeU is off."""
    if not config.freeu:
        return None
    return FreeU(config.freeu_b1, config.freeu_b2, config.freeu_s1, config.freeu_s2)


def _tensor(output: Any) -> torch.Tensor:
    """A block's output tensor (Transformer2DModel returns a tuple or an output object)."""
    if isinstance(output, (tuple, list)):
        return output[0]
    return getattr(output, "sample", output)


# --------------------------------------------------------------------------- features


class FusionFeaturizer:
    """SD components + DINOv2; ``(C, gh, gw)`` fused unit-length feature maps for a batch of images."""

    def __init__(self, comps: SDComponents, dino: dino_mod.DinoModel, config: FusionConfig,
                 device: torch.device, dtype: torch.dtype) -> None:
        self.comps = comps
        self.dino = dino
        self.config = config
        self.device = device
        self.dtype = dtype
        for name in config.sd_layers:
            try:
                comps.unet.get_submodule(name)
            except AttributeError:
                raise UserInputError(f"the UNet of {comps.model_id} has no block {name!r}") from None
        self.prompt_embeds = self._encode_prompt(config.prompt)
        comps.vae.decoder = None  # only the encoder half is needed
        comps.text_encoder = None
        comps.tokenizer = None

    def _encode_prompt(self, prompt: str) -> torch.Tensor:
        tok = self.comps.tokenizer
        ids = tok(prompt, padding="max_length", max_length=tok.model_max_length, truncation=True,
                  return_tensors="pt").input_ids.to(self.device)
        with torch.inference_mode():
            return self.comps.text_encoder(ids)[0].to(self.dtype).clone()

    def to(self, device: torch.device, dtype: torch.dtype) -> None:
        self.comps.to(device, dtype)
        self.dino.model.to(device=device, dtype=dtype)
        self.prompt_embeds = self.prompt_embeds.to(device=device, dtype=dtype)
        self.device, self.dtype = device, dtype

    def sd_maps(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(B, C, G, G)`` SD taps on the padded square at s3's grid, in the authors' order s3, s4, s5.

        As ODISE's sliding inference (``slide_forward`` with ``slide_training``): the square is cut
        into ``sd_window`` crops (960 px: 2 x 2 crops of 512 at offsets 0 and 448), each crop is
        VAE-encoded, noised and run through the UNet on its own, and each tap's crop maps are
        placed at their offsets and averaged where crops overlap.
        """
        cfg = self.config
        b, side = pixels.shape[0], pixels.shape[1]
        window = min(cfg.sd_window, side)
        starts = window_starts(side, window)
        crops = [(y, x) for y in starts for x in starts]
        x_all = pixels.to(self.device).permute(0, 3, 1, 2)
        batch = torch.stack([x_all[i, :, y : y + window, x : x + window] for i in range(b) for (y, x) in crops])
        taps = self._unet_taps(batch, self.crop_noise(pixels, len(crops), window))
        out = []
        for tap in taps:  # s3, s4, s5: (B * crops, C, window / stride, window / stride)
            stride = window // tap.shape[-1]
            n = side // stride
            acc = torch.zeros((b, tap.shape[1], n, n), dtype=torch.float32, device=tap.device)
            count = torch.zeros((1, 1, n, n), dtype=torch.float32, device=tap.device)
            tap = tap.reshape(b, len(crops), *tap.shape[1:])
            k = tap.shape[-1]
            for c, (y, x) in enumerate(crops):
                acc[:, :, y // stride : y // stride + k, x // stride : x // stride + k] += tap[:, c]
                count[..., y // stride : y // stride + k, x // stride : x // stride + k] += 1
            out.append(acc / count)
        size = out[0].shape[-2:]
        return torch.cat([m if m.shape[-2:] == size else
                          F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in out], dim=1)

    def crop_noise(self, pixels: torch.Tensor, per_image: int, window: int) -> torch.Tensor:
        """``(B * per_image, 4, w/8, w/8)``: each image's crops draw their noise from the image's own
        generator (seeded by ``seed`` and its pixels), crop after crop, on the CPU."""
        channels = self.comps.unet.config.in_channels
        shape = (per_image, channels, window // 8, window // 8)
        return torch.cat([torch.randn(shape, generator=torch.Generator().manual_seed(content_seed(self.config.seed, p.numpy())))
                          for p in pixels])

    def _unet_taps(self, crops: torch.Tensor, noise: torch.Tensor) -> list[torch.Tensor]:
        """The ``sd_layers`` outputs for ``(N, 3, w, w)`` uint8 crops and their noise, finest (last) first, float32."""
        cfg, vae, unet = self.config, self.comps.vae, self.comps.unet
        x = (crops.float() / 255.0 * 2.0 - 1.0).to(self.dtype)
        latents = vae.encode(x).latent_dist.mean * vae.config.scaling_factor
        noise = noise.to(device=self.device, dtype=self.dtype)
        t = torch.full((latents.shape[0],), cfg.timestep, dtype=torch.long, device=self.device)
        # CleanDIFT's UNet wants the clean latent (``noise = false``), conditioned on ``timestep``
        noisy = self.comps.scheduler.add_noise(latents, noise, t) if cfg.noise else latents
        context = self.prompt_embeds.expand(latents.shape[0], -1, -1)
        captured: dict[str, torch.Tensor] = {}
        # FreeU's hooks first: the taps (registered after them) read the scaled tensors, as the authors'
        with freeu_hooks(unet, freeu_of(cfg)):
            handles = []
            for name in cfg.sd_layers[:-1]:
                def keep(_m: Any, _i: Any, out: Any, name: str = name) -> None:
                    captured[name] = _tensor(out)
                handles.append(unet.get_submodule(name).register_forward_hook(keep))
            try:
                last = _tensor(run_until(unet, cfg.sd_layers[-1], noisy, t, encoder_hidden_states=context))
            finally:
                for h in handles:
                    h.remove()
        missing = [n for n in cfg.sd_layers[:-1] if n not in captured]
        if missing:
            raise UserInputError(f"UNet blocks {', '.join(missing)} run after {cfg.sd_layers[-1]}; "
                                 "list sd_layers in the order the UNet runs them")
        return [last.float()] + [captured[n].float() for n in reversed(cfg.sd_layers[:-1])]

    def dino_maps(self, pixels: torch.Tensor) -> torch.Tensor:
        x = dino_mod.normalise_pixels(pixels.to(self.device), self.dtype)
        return dino_mod.token_maps(self.dino, x).float()

    @torch.inference_mode()
    def __call__(self, images: Sequence[np.ndarray]) -> list[torch.Tensor]:
        cfg = self.config
        sd = self.sd_maps(squares(images, cfg.sd_resolution))
        dn = self.dino_maps(squares(images, cfg.dino_resolution))
        w_sd, w_dino = math.sqrt(cfg.sd_weight), math.sqrt(1.0 - cfg.sd_weight)
        out = []
        for i, image in enumerate(images):
            size = (image.shape[1], image.shape[0])
            a = F.normalize(onto_image_grid(sd[i], size, cfg.sd_resolution, cfg.grid), dim=0, eps=1e-10)
            b = F.normalize(onto_image_grid(dn[i], size, cfg.dino_resolution, cfg.grid), dim=0, eps=1e-10)
            out.append(torch.cat([a * w_sd, b * w_dino], dim=0))
        return out


# --------------------------------------------------------------------------- the engine


class FusionMatcher(DenseFeatureMatcher):
    """SD + DINOv2 fusion engine. Confidence: relative margin of the cosine peak (see :mod:`peaks`)."""

    method = METHOD

    def __init__(self, comps: SDComponents, dino: dino_mod.DinoModel, config: FusionConfig,
                 device: torch.device, dtype_request: str) -> None:
        super().__init__(config.matching, config.batch_size)
        self.config = config
        self._dtype_request = dtype_request
        dtype = resolve_dtype(dtype_request, device)
        self.model_source, self.model_revision = model_identity(comps)
        self.dino_source, self.dino_revision = dino.source, dino.revision
        self.dino_layer = dino.layer
        self.featurizer = FusionFeaturizer(comps, dino, config, device, dtype)

    @property
    def device(self) -> str:
        return str(self.featurizer.device)

    def _identity(self) -> dict[str, Any]:
        return {
            "method": METHOD, "version": FUSION_VERSION,
            "model": self.model_source, "revision": self.model_revision,
            "dino": self.dino_source, "dino_revision": self.dino_revision, "dino_layer": self.dino_layer,
        }

    @property
    def reference_signature(self) -> str:
        c = self.config
        payload = {
            **self._identity(),
            "sd_resolution": c.sd_resolution, "dino_resolution": c.dino_resolution, "timestep": c.timestep,
            "noise": c.noise, "sd_layers": list(c.sd_layers), "prompt": c.prompt, "sd_weight": c.sd_weight, "seed": c.seed,
            "freeu": [c.freeu_b1, c.freeu_b2, c.freeu_s1, c.freeu_s2] if c.freeu else None,
        }
        return f"{METHOD}:{stable_hash(payload)}"

    @property
    def signature(self) -> str:
        return f"{METHOD}:{stable_hash({**self._identity(), **fusion_config_dict(self.config)})}"

    def _feature_maps(self, images: Sequence[np.ndarray]) -> list[torch.Tensor]:
        return self.featurizer(images)

    def _reference_meta(self) -> dict[str, Any]:
        c = self.config
        return {"model": self.model_source, "dino": self.dino_source, "dino_layer": self.dino_layer,
                "sd_resolution": c.sd_resolution, "dino_resolution": c.dino_resolution, "timestep": c.timestep}

    def to(self, device: str) -> None:
        dev = resolve_device(device)
        with translate_oom(f"moving the models to {dev}"):
            self.featurizer.to(dev, resolve_dtype(self._dtype_request, dev))

    def close(self) -> None:
        self.featurizer.comps = None  # type: ignore[assignment]
        self.featurizer.dino = None  # type: ignore[assignment]
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def default_dino(model: str) -> str:
    """The DINOv2 paired with SD ``model``: the tiny test model with tiny-random, else DINOv2-B (the authors')."""
    card = find_card(model)
    return dino_mod.TINY_KEY if card is not None and card.key == "tiny-random" else dino_mod.DEFAULT_DINO


def build(model: str, preset: str, device: str = "auto", dtype: str = "auto", **overrides: Any) -> FusionMatcher:
    """A fusion matcher for SD ``model`` (card key, hub id, folder, .safetensors or tiny-random) and
    DINOv2 ``--setting dino=...`` (default: :func:`default_dino`)."""
    card = find_card(model)
    card_settings = card.method_settings(METHOD) if card is not None else {}
    config = fusion_config_for(preset, card_settings, **overrides)
    dev = resolve_device(device)
    if preset in FUSION_FP32_PRESETS and dtype == "auto":
        dtype = "float32"  # the authors' precision on every device
    torch_dtype = resolve_dtype(dtype, dev)
    dino = dino_mod.load_dinov2(config.dino or default_dino(model), device=dev, dtype=torch_dtype,
                                layer=config.dino_layer)
    comps = load_sd(model, device=dev, dtype=torch_dtype, parts=SD_PARTS)
    return FusionMatcher(comps, dino, config, dev, dtype)
