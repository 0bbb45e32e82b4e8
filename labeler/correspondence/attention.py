"""Cross-attention prompt optimisation (Hedlin et al. 2023, "Unsupervised Semantic Correspondence
Using Stable Diffusion"), batched and truncated.

Reference: per keypoint, ``num_embeddings`` random 77 x D contexts are optimised (Adam) so that the
cross-attention of one context position (``token``) in a few UNet layers peaks at the keypoint:
each step takes a random crop of the reference (the point kept away from the crop border), adds
noise at ``timestep_optimize`` and minimises the MSE between the head-averaged maps and a
Gaussian around the point. The text encoder is never used.

Target: every context looks at ``inference_crops`` crops of the target (first the four corners,
then crops around its own running argmax); crop maps are pasted back and averaged per pixel.
Per keypoint the maps of all contexts are averaged, soft-maxed over the image per layer, averaged
over layers; the argmax (optionally refined) is the prediction.

Batching: all keypoints x contexts of a reference are optimised in one batch (one Adam over a
``(K*E, 77, D)`` parameter is exactly E*K independent Adams, Adam being elementwise, and the loss is
the sum of the per-context losses); at inference the (keypoint, context) pairs of one target share
each UNet pass; every crop's VAE latent is computed once per image (the four corner crops serve
every pair); the UNet stops after the last attention layer it needs. A target's pairs are never
batched with another target's. Every random draw is keyed by (seed, purpose, image content, keypoint
name, context slot, step): context initialisation and optimisation draws by the reference image, so
the contexts pooled from several references are independent; inference draws by the target image
and keypoint, so no two targets or keypoints share noise, and predicting images together or one at
a time gives identical results.

Several references: the contexts of every reference that has the keypoint are pooled (the method
averages over contexts anyway, so a second reference is like more contexts from another image).

Confidence: the share of the final probability map's mass within ``confidence_radius`` of the
peak (:func:`~labeler.correspondence.peaks.mass_near_peak`), rescaled so that 0 = a flat map and
1 = the most peaked map the method can produce (attention 1 inside the radius, 0 outside, in every
layer). The raw mass is tiny (a softmax of values in [0, 1] over 512^2 pixels is nearly flat), hence
the rescaling; the rescaling also corrects for the disc being cut by the image border.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from labeler.correspondence import crops
from labeler.correspondence.attention_config import (
    ALGORITHM_VERSION,
    CONTEXT_TOKENS,
    PRESETS,
    REFERENCE_FIELDS,
    AttentionConfig,
    card_overrides,
    config_dict,
    stable_hash,
    with_overrides,
)
from labeler.correspondence.attention_maps import install, last_layer
from labeler.correspondence.base import (
    DeviceOutOfMemory,
    Matcher,
    Prediction,
    ProgressFn,
    ReferenceState,
    StopFn,
    check_image,
    check_points,
    check_stop,
)
from labeler.correspondence.cards import find_card
from labeler.correspondence.device import is_out_of_memory, resolve_device, resolve_dtype
from labeler.correspondence.loading import SDComponents, load_sd
from labeler.correspondence.peaks import argmax_2d, mass_near_peak, window_soft_argmax
from labeler.correspondence.truncation import run_until
from labeler.errors import UserInputError

log = logging.getLogger(__name__)

METHOD = "attention"
DEFAULT_MODEL = "sd-1-4"
#: Card whose [attention] settings serve SD2.x checkpoints that have no card (local folders).
_SD2_CARD = "sd-2-1"


def build(
    model: str = DEFAULT_MODEL,
    preset: str = "fast",
    device: str = "auto",
    dtype: str = "auto",
    **overrides: Any,
) -> AttentionMatcher:
    """Load ``model`` and return the engine with ``preset`` < model card < ``overrides``."""
    if preset not in PRESETS:
        raise UserInputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    requested = with_overrides(PRESETS[preset], overrides)  # bad settings fail before the slow load
    named = find_card(model)
    if named is not None and named.unet_file:
        raise UserInputError(
            f"{model} is a feature model for DIFT (noise-free UNet); the attention method needs the base "
            f"model it was trained from ({named.candidates[0]})"
        )
    dev = resolve_device(device)
    dtype = model_dtype_request(requested, dtype)
    dt = resolve_dtype(dtype, dev)
    components = load_sd(model, device=dev, dtype=dt, parts=("unet", "vae", "scheduler"))
    card = components.card
    if card is None and components.family == "sd2":
        card = find_card(_SD2_CARD)
    config = PRESETS[preset]
    if card is not None:
        config = with_overrides(config, card_overrides(card.resolution, card.method_settings(METHOD)))
    config = with_overrides(config, overrides)
    return AttentionMatcher(components, config, device=dev, dtype=dt, requested_dtype=dtype)


def model_dtype_request(config: AttentionConfig, dtype: str) -> str:
    """The dtype to ask the device for: an explicit ``dtype`` wins; ``"auto"`` under
    ``precision="float32"`` (the ``paper`` preset) is fp32 on every device, CUDA included."""
    if dtype == "auto" and config.precision == "float32":
        return "float32"
    return dtype


def _generator(seed: int, *keys: Any) -> torch.Generator:
    """A CPU generator for one purpose, independent of every other (hash of seed and keys)."""
    digest = hashlib.sha256(json.dumps([seed, *keys]).encode("utf-8")).digest()
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))
    return gen


def image_key(image: np.ndarray) -> str:
    """A short content hash of an image (its shape and bytes): the key of its random draws."""
    data = np.ascontiguousarray(image)
    return hashlib.sha256(repr(data.shape).encode() + data.tobytes()).hexdigest()[:32]


def _model_identity(components: SDComponents) -> str:
    card = components.card
    if card is not None and card.key == "tiny-random":
        return f"tiny-random:{components.source.rstrip('/').rsplit('/', 1)[-1]}"
    if card is not None:
        return f"{card.key}@{card.revision or 'main'}"
    return components.source


def _even_chunks(n: int, size: int) -> list[range]:
    """``range(n)`` cut into the fewest pieces of at most ``size``, as equal as possible."""
    if n == 0:
        return []
    pieces = math.ceil(n / size)
    bounds = [round(i * n / pieces) for i in range(pieces + 1)]
    return [range(bounds[i], bounds[i + 1]) for i in range(pieces)]


#: Where the Gaussian target is evaluated, per ``target_grid``: pixel i at i (the authors') or i + 0.5.
GRID_OFFSET = {"index": 0.0, "centre": 0.5}


def _gaussians(points: torch.Tensor, side: int, sigma: float, grid: str = "centre") -> torch.Tensor:
    """``(B, side, side)`` un-normalised Gaussians (peak 1) at ``points`` (B, 2) in float32, evaluated
    at ``i + GRID_OFFSET[grid]`` for pixel i (the authors' ``gaussian_circle``: at i)."""
    centres = torch.arange(side, device=points.device, dtype=torch.float32) + GRID_OFFSET[grid]
    gx = torch.exp(-((centres[None, :] - points[:, 0:1]) ** 2) / (2 * sigma**2))
    gy = torch.exp(-((centres[None, :] - points[:, 1:2]) ** 2) / (2 * sigma**2))
    return gy[:, :, None] * gx[:, None, :]


def _check_image(image: Any, what: str) -> np.ndarray:
    check_image(image, what)
    return image


class _LatentCache:
    """VAE latents of one working image's crops, keyed by crop start; each crop is encoded once."""

    def __init__(self, matcher: AttentionMatcher, image: torch.Tensor) -> None:
        self.matcher = matcher
        self.image = image  # (1, 3, R, R) in [0, 1] on the device
        self.latents: dict[tuple[int, int], torch.Tensor] = {}

    @torch.no_grad()
    def get(self, starts: Sequence[tuple[int, int]]) -> torch.Tensor:
        m = self.matcher
        side, crop = m.config.resolution, m.config.crop_px
        missing = list(dict.fromkeys(s for s in starts if s not in self.latents))
        for piece in _even_chunks(len(missing), m.config.batch_size):
            batch = torch.cat(
                [
                    F.interpolate(
                        self.image[:, :, y0 : y0 + crop, x0 : x0 + crop],
                        size=(side, side),
                        mode="bilinear",
                        align_corners=False,
                    )
                    for x0, y0 in (missing[i] for i in piece)
                ]
            )
            vae = m.components.vae
            dist = vae.encode((batch * 2 - 1).to(m._dtype)).latent_dist
            latents = dist.mean * vae.config.scaling_factor  # the authors use the mean, not a sample
            for i, lat in zip(piece, latents, strict=True):
                self.latents[missing[i]] = lat
        return torch.stack([self.latents[s] for s in starts])


class AttentionMatcher(Matcher):
    method = METHOD

    def __init__(
        self,
        components: SDComponents,
        config: AttentionConfig,
        *,
        device: torch.device,
        dtype: torch.dtype,
        requested_dtype: str = "auto",
    ) -> None:
        config.validate()
        self.components = components
        self.config = config
        self._device = torch.device(device)
        self._dtype = dtype
        self._requested_dtype = model_dtype_request(config, requested_dtype)  # what .to() asks for
        unet = components.unet
        self.layers = tuple(config.layers)
        self.stop_layer = last_layer(self.layers)
        try:
            self.store = install(unet, self.layers, config.heads, config.token)
        except ValueError as exc:
            raise UserInputError(f"attention settings do not fit this model: {exc}") from exc
        self.context_dim = int(unet.config.cross_attention_dim)
        self.vae_stride = 2 ** (len(components.vae.config.block_out_channels) - 1)
        self.model_id = _model_identity(components)
        self._warned_models: set[str] = set()
        self._closed = False

    # ----------------------------------------------------------------- identity

    @property
    def device(self) -> str:
        return str(self._device)

    @property
    def signature(self) -> str:
        return stable_hash(
            {
                "method": METHOD,
                "version": ALGORITHM_VERSION,
                "model": self.model_id,
                "config": config_dict(self.config),
                "dtype": str(self._dtype).removeprefix("torch."),
            }
        )

    @property
    def reference_signature(self) -> str:
        """What makes two reference states interchangeable: model and optimisation settings."""
        return stable_hash(
            {
                "method": METHOD,
                "version": ALGORITHM_VERSION,
                "model": self.model_id,
                "config": config_dict(self.config, REFERENCE_FIELDS),
            }
        )

    def to(self, device: str) -> None:
        dev = resolve_device(device)
        dt = resolve_dtype(self._requested_dtype, dev)
        self.components.to(dev, dt)
        self._device, self._dtype = dev, dt

    def close(self) -> None:
        self.components.unet = self.components.vae = None
        self._closed = True
        gc.collect()
        if self._device.type == "cuda":
            torch.cuda.empty_cache()

    # ----------------------------------------------------------------- building blocks

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this matcher was closed")

    @contextmanager
    def _oom_guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            if is_out_of_memory(exc):
                raise DeviceOutOfMemory(
                    f"{self._device} ran out of memory while {what} (batch_size={self.config.batch_size}). "
                    "Lower the batch size or run on the CPU."
                ) from exc
            raise

    def _working(self, image: np.ndarray) -> torch.Tensor:
        """The image resized (aspect not kept) to the square working size: (1, 3, R, R) in [0, 1]."""
        side = self.config.resolution
        pil = Image.fromarray(image).resize((side, side), Image.Resampling.BILINEAR)
        arr = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1).float().div_(255.0)
        return arr[None].to(self._device)

    def _noise(self, gen: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
        if self.config.noise == "uniform":
            return torch.rand(shape, generator=gen)
        if self.config.noise == "gaussian":
            return torch.randn(shape, generator=gen)
        return torch.zeros(shape)

    def _add_noise(self, latents: torch.Tensor, noise: torch.Tensor, timestep: int) -> torch.Tensor:
        t = torch.full((latents.shape[0],), timestep, dtype=torch.long, device=latents.device)
        return self.components.scheduler.add_noise(latents, noise.to(latents.device, latents.dtype), t)

    def _layer_maps(self, latents: torch.Tensor, contexts: torch.Tensor, timestep: int) -> list[torch.Tensor]:
        """Per layer ``(B, h, w)`` float32 head-averaged attention of the token; UNet truncated."""
        t = torch.full((latents.shape[0],), timestep, dtype=torch.long, device=latents.device)
        self.store.clear()
        self.store.enabled = True
        try:
            run_until(self.components.unet, self.stop_layer, latents, t, encoder_hidden_states=contexts)
            return self.store.head_means(self.layers, (latents.shape[-2], latents.shape[-1]))
        finally:
            self.store.enabled = False
            self.store.clear()

    def latent_shape(self) -> tuple[int, int, int]:
        side = self.config.resolution // self.vae_stride
        return (int(self.components.unet.config.in_channels), side, side)

    # ----------------------------------------------------------------- reference

    def prepare_reference(
        self,
        image: np.ndarray,
        points: Mapping[str, tuple[float, float]],
        *,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> ReferenceState:
        self._check_open()
        cfg = self.config
        image = _check_image(image, "the reference image")
        names, xy = check_points(points, (image.shape[1], image.shape[0]))
        names = list(names)
        h, w = image.shape[:2]
        side, crop = cfg.resolution, cfg.crop_px
        margin = cfg.crop_margin * crop
        work_xy = xy * np.array([side / w, side / h])
        items = [(k, e) for k in range(len(names)) for e in range(cfg.num_embeddings)]
        ref_key = image_key(image)
        init = torch.stack(
            [
                torch.randn((CONTEXT_TOKENS, self.context_dim), generator=_generator(cfg.seed, "init", ref_key, names[k], e))
                for k, e in items
            ]
        )
        result = torch.empty_like(init)
        first_loss = np.zeros(len(items))
        last_loss = np.zeros(len(items))
        chunks = _even_chunks(len(items), cfg.batch_size)
        total = len(chunks) * cfg.steps
        done = 0
        # fp16 gradients can underflow: scale the loss and Adam's eps alike (Adam is then unchanged).
        scale = 1024.0 if self._dtype == torch.float16 else 1.0
        shape = self.latent_shape()
        with self._oom_guard("optimising the reference keypoints"):
            cache = _LatentCache(self, self._working(image))
            for chunk in chunks:
                members = [items[i] for i in chunk]
                param = init[chunk.start : chunk.stop].to(self._device).requires_grad_(True)
                optim = torch.optim.Adam([param], lr=cfg.lr, eps=1e-8 * scale)
                for step in range(cfg.steps):
                    check_stop(should_stop)
                    starts, noise, targets = [], [], []
                    for k, e in members:
                        gen = _generator(cfg.seed, "step", ref_key, names[k], e, step)
                        u = torch.rand(2, generator=gen).tolist()
                        start = crops.random_start(
                            tuple(work_xy[k]), crop, margin, side, (u[0], u[1]), cfg.margin_rule
                        )
                        starts.append(start)
                        noise.append(self._noise(gen, shape))
                        targets.append(crops.to_crop(tuple(work_xy[k]), start, crop, side))
                    with torch.no_grad():
                        noisy = self._add_noise(cache.get(starts), torch.stack(noise), cfg.timestep_optimize)
                    maps = self._layer_maps(noisy, param.to(self._dtype), cfg.timestep_optimize)
                    up = torch.cat(
                        [F.interpolate(m[:, None], size=(side, side), mode="bilinear", align_corners=False) for m in maps],
                        dim=1,
                    )
                    goal = _gaussians(
                        torch.tensor(targets, dtype=torch.float32, device=self._device), side, cfg.sigma_px, cfg.target_grid
                    )
                    per_item = ((up - goal[:, None]) ** 2).mean(dim=(1, 2, 3))
                    optim.zero_grad(set_to_none=True)
                    (per_item.sum() * scale).backward()
                    optim.step()
                    losses = per_item.detach().cpu().numpy()
                    if step == 0:
                        first_loss[chunk.start : chunk.stop] = losses
                    last_loss[chunk.start : chunk.stop] = losses
                    done += 1
                    if progress is not None:
                        progress(done, total)
                result[chunk.start : chunk.stop] = param.detach().float().cpu()
        embeddings = result.reshape(len(names), cfg.num_embeddings, CONTEXT_TOKENS, self.context_dim).numpy()
        return ReferenceState(
            method=METHOD,
            signature=self.reference_signature,
            names=tuple(names),
            points=xy,
            image_size=(w, h),
            arrays={"embeddings": embeddings.astype(np.float32)},
            meta={
                "model": self.model_id,
                "config": config_dict(cfg, REFERENCE_FIELDS),
                "loss_first": first_loss.reshape(len(names), -1).mean(1).tolist(),
                "loss_last": last_loss.reshape(len(names), -1).mean(1).tolist(),
            },
        )

    # ----------------------------------------------------------------- prediction

    def _pool(self, references: Sequence[ReferenceState]) -> tuple[list[str], dict[str, torch.Tensor]]:
        """Keypoint names (first appearance order) -> all contexts that any reference has for them."""
        names: list[str] = []
        pooled: dict[str, list[np.ndarray]] = {}
        for i, ref in enumerate(references):
            if not isinstance(ref, ReferenceState) or ref.method != METHOD:
                got = getattr(ref, "method", type(ref).__name__)
                raise UserInputError(f"reference {i} was made by the {got!r} engine, not by {METHOD!r}")
            emb = ref.arrays.get("embeddings")
            if emb is None or emb.ndim != 4 or emb.shape[0] != len(ref.names) or emb.shape[2] <= self.config.token:
                raise UserInputError(f"reference {i} holds no usable optimised contexts")
            if emb.shape[3] != self.context_dim:
                raise UserInputError(
                    f"reference {i} was optimised for a model with {emb.shape[3]}-wide contexts; this model "
                    f"({self.model_id}) takes {self.context_dim}. Prepare the reference again with this model."
                )
            other = ref.meta.get("model")
            if other not in (None, self.model_id) and other not in self._warned_models:
                self._warned_models.add(other)
                log.warning("a reference was optimised on %s; predicting with %s", other, self.model_id)
            for k, name in enumerate(ref.names):
                if name not in pooled:
                    names.append(name)
                    pooled[name] = []
                pooled[name].extend(np.asarray(emb[k], dtype=np.float32))
        return names, {n: torch.from_numpy(np.stack(v)) for n, v in pooled.items()}

    def predict(
        self,
        references: Sequence[ReferenceState],
        images: Sequence[np.ndarray],
        *,
        should_stop: StopFn | None = None,
    ) -> list[Prediction]:
        self._check_open()
        images = [_check_image(img, f"target image {i}") for i, img in enumerate(images)]
        names, pooled = self._pool(list(references))
        out = []
        with self._oom_guard("predicting keypoints"), torch.no_grad():
            for image in images:
                check_stop(should_stop)
                xy, conf = self._predict_one(names, pooled, image, should_stop)
                out.append(Prediction(names=tuple(names), xy=xy, confidence=conf))
        return out

    def _predict_one(
        self, names: list[str], pooled: dict[str, torch.Tensor], image: np.ndarray, should_stop: StopFn | None
    ) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        side = cfg.resolution
        h, w = image.shape[:2]
        tracks = [(k, e) for k, name in enumerate(names) for e in range(len(pooled[name]))]
        xy = np.zeros((len(names), 2))
        conf = np.zeros(len(names))
        if not tracks:
            return xy, conf
        cache = _LatentCache(self, self._working(image))
        target_key = image_key(image)
        pending: dict[int, torch.Tensor] = {}
        seen: dict[int, int] = {}
        for chunk in _even_chunks(len(tracks), cfg.batch_size):
            members = [tracks[i] for i in chunk]
            layer_maps = self._crop_average(members, pooled, names, cache, target_key, should_stop)
            for (k, _e), maps in zip(members, layer_maps, strict=True):
                pending[k] = pending[k] + maps if k in pending else maps.clone()
                seen[k] = seen.get(k, 0) + 1
                if seen[k] == len(pooled[names[k]]):
                    xy[k], conf[k] = self._final_point(pending.pop(k) / seen[k])
        return xy * np.array([w / side, h / side]), conf

    def _crop_average(
        self,
        members: list[tuple[int, int]],
        pooled: dict[str, torch.Tensor],
        names: list[str],
        cache: _LatentCache,
        target_key: str,
        should_stop: StopFn | None,
    ) -> torch.Tensor:
        """``(B, L, R, R)``: each (keypoint, context)'s crop maps, pasted and averaged per pixel."""
        cfg = self.config
        side, crop = cfg.resolution, cfg.crop_px
        margin = cfg.crop_margin * crop
        n, n_layers = len(members), len(self.layers)
        contexts = torch.stack([pooled[names[k]][e] for k, e in members]).to(self._device, self._dtype)
        sums = torch.zeros((n, n_layers, side, side), device=self._device)
        counts = torch.zeros((n, 1, side, side), device=self._device)
        corners = crops.corner_starts(crop, side)
        shape = self.latent_shape()
        draws: dict[tuple[str, int, int], tuple[list[float], torch.Tensor]] = {}
        for j in range(cfg.inference_crops):
            check_stop(should_stop)
            if j < len(corners):
                starts = [corners[j]] * n
            else:
                running = (sums.mean(dim=1) / counts[:, 0]).nan_to_num(0.0)
                peaks = argmax_2d(running).tolist()
                starts = []
                for (k, e), p in zip(members, peaks, strict=True):
                    u = self._draw(draws, target_key, names[k], e, j, shape)[0]
                    starts.append(crops.random_start((p[0], p[1]), crop, margin, side, (u[0], u[1]), cfg.margin_rule))
            noise = torch.stack([self._draw(draws, target_key, names[k], e, j, shape)[1] for k, e in members])
            noisy = self._add_noise(cache.get(starts), noise, cfg.timestep_infer)
            maps = self._layer_maps(noisy, contexts, cfg.timestep_infer)
            up = torch.cat(
                [F.interpolate(m[:, None], size=(crop, crop), mode="bilinear", align_corners=False) for m in maps],
                dim=1,
            )
            for i, (x0, y0) in enumerate(starts):
                sums[i, :, y0 : y0 + crop, x0 : x0 + crop] += up[i]
                counts[i, :, y0 : y0 + crop, x0 : x0 + crop] += 1
        return (sums / counts).nan_to_num(0.0)

    def _draw(
        self,
        draws: dict[tuple[str, int, int], tuple[list[float], torch.Tensor]],
        target_key: str,
        name: str,
        slot: int,
        j: int,
        shape: tuple[int, ...],
    ) -> tuple[list[float], torch.Tensor]:
        """Crop uniforms and noise of keypoint ``name``'s context slot ``slot`` at crop ``j`` of one target."""
        if (name, slot, j) not in draws:
            gen = _generator(self.config.seed, "infer", target_key, name, slot, j)
            u = torch.rand(2, generator=gen).tolist()
            draws[(name, slot, j)] = (u, self._noise(gen, shape))
        return draws[(name, slot, j)]

    def _final_point(self, layer_maps: torch.Tensor) -> tuple[np.ndarray, float]:
        """From ``(L, R, R)`` context-averaged maps to a working-image point and a confidence."""
        cfg = self.config
        n_layers, side, _ = layer_maps.shape
        logits = layer_maps.reshape(n_layers, -1).to(getattr(torch, cfg.softmax_dtype))
        prob = torch.softmax(logits, dim=1).mean(dim=0).reshape(1, side, side)
        peak = argmax_2d(prob)
        if cfg.refine == "soft_argmax":
            point = window_soft_argmax(prob.log(), cfg.soft_window, cfg.soft_temperature)
        else:
            point = peak
        return point[0].cpu().numpy(), self._confidence(prob, peak)

    def _confidence(self, prob: torch.Tensor, peak: torch.Tensor) -> float:
        radius = self.config.confidence_radius * prob.shape[-1]
        mass = float(mass_near_peak(prob, peak, radius)[0])
        share = float(mass_near_peak(torch.ones_like(prob), peak, radius)[0])  # a flat map's mass
        best = math.e * share / (math.e * share + (1.0 - share))
        return float(np.clip((mass - share) / max(best - share, 1e-12), 0.0, 1.0))
