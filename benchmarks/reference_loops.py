"""Reference-style loops: the authors' loop STRUCTURE, written here, as the baseline of every ratio.

Not the authors' code; the same work in the same order, so a ratio to it measures what batching,
truncation, sharing and precision buy on the same machine in the same run.

* DIFT (Tang et al.): one image at a time; the image repeated ``ensemble`` times as one batch
  through the VAE encoder (encode x ensemble), a latent sample each, DDIM noise at ``timestep``,
  the UNet stopped after ``feature_block`` (as their truncated UNet), features averaged, fp32;
  matching by ``nn.Upsample`` of the target map to the full image resolution, cosine per
  keypoint, argmax. The reference descriptors are computed once (their evaluation recomputes
  the source per pair, which would only make the baseline slower).
* Attention method (Hedlin et al.): batch 1 per (keypoint, embedding, step/crop), fp32, the whole
  UNet (no truncation), explicit attention probabilities in every attention layer (no SDPA),
  a VAE encode on every pass; optimisation = crop, encode, noise, forward, MSE to a Gaussian,
  backward, Adam; inference = crop, encode, noise, forward, maps pasted into the image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from labeler.correspondence.truncation import run_until


def _prompt_embedding(comps: Any, prompt: str, device: torch.device) -> torch.Tensor:
    tok = comps.tokenizer
    ids = tok(prompt, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt").input_ids
    with torch.inference_mode():
        return comps.text_encoder(ids.to(device))[0].float().clone()


class AuthorsLoopDift:
    """DIFT as the authors' loop runs it (see the module docstring)."""

    def __init__(
        self,
        comps: Any,
        *,
        resolution: int,
        timestep: int = 261,
        feature_block: str = "up_blocks.1",
        ensemble: int = 8,
        prompt: str = "",
        device: torch.device,
        vae_batch: int | None = None,
        seed: int = 0,
    ) -> None:
        self.comps = comps
        self.resolution = resolution
        self.timestep = timestep
        self.block = feature_block
        self.ensemble = ensemble
        self.device = device
        # The authors encode the ensemble as one batch; on a small CPU the same encodes may run in
        # smaller batches (same FLOPs, less memory).
        self.vae_batch = vae_batch or ensemble
        self.prompt = _prompt_embedding(comps, prompt, device)
        self.gen = torch.Generator(device="cpu").manual_seed(seed)

    @torch.inference_mode()
    def features(self, image: np.ndarray) -> torch.Tensor:
        """``(C, h, w)`` fp32 features of one image."""
        vae, unet, sched = self.comps.vae, self.comps.unet, self.comps.scheduler
        pil = Image.fromarray(image).resize((self.resolution, self.resolution), Image.Resampling.BICUBIC)
        x = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1).float().div(255.0).mul(2.0).sub(1.0)
        batch = x[None].repeat(self.ensemble, 1, 1, 1).to(self.device)
        latents = []
        for i in range(0, self.ensemble, self.vae_batch):
            dist = vae.encode(batch[i : i + self.vae_batch]).latent_dist
            eps = torch.randn(dist.mean.shape, generator=self.gen).to(self.device)
            latents.append(dist.mean + dist.std * eps)
        lat = torch.cat(latents) * vae.config.scaling_factor
        t = torch.full((self.ensemble,), self.timestep, dtype=torch.long, device=self.device)
        noise = torch.randn(lat.shape, generator=self.gen).to(self.device)
        noisy = sched.add_noise(lat, noise, t)
        feats = run_until(unet, self.block, noisy, t, encoder_hidden_states=self.prompt.expand(self.ensemble, -1, -1))
        if isinstance(feats, tuple):
            feats = feats[0]
        return feats.float().mean(0)

    @torch.inference_mode()
    def upsampled(self, feats: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """``nn.Upsample`` to the full image size (width, height): ``(C, H, W)``."""
        w, h = size
        return torch.nn.Upsample(size=(h, w), mode="bilinear")(feats[None])[0]

    @torch.inference_mode()
    def describe(self, image: np.ndarray, points: np.ndarray) -> torch.Tensor:
        """Reference descriptors ``(K, C)``: the upsampled map read at each keypoint's pixel."""
        h, w = image.shape[:2]
        up = self.upsampled(self.features(image), (w, h))
        xs = np.clip(np.floor(points[:, 0]).astype(int), 0, w - 1)
        ys = np.clip(np.floor(points[:, 1]).astype(int), 0, h - 1)
        return up[:, torch.as_tensor(ys), torch.as_tensor(xs)].T.clone()

    @torch.inference_mode()
    def locate(self, desc: torch.Tensor, image: np.ndarray) -> np.ndarray:
        """Predicted points ``(K, 2)`` (pixel centres) in the target image."""
        h, w = image.shape[:2]
        up = self.upsampled(self.features(image), (w, h))
        up = F.normalize(up, dim=0)
        out = np.zeros((desc.shape[0], 2))
        for k, d in enumerate(F.normalize(desc, dim=1)):
            cos = torch.einsum("c,chw->hw", d, up)
            idx = int(torch.argmax(cos))
            out[k] = (idx % w + 0.5, idx // w + 0.5)
        return out


# --------------------------------------------------------------------------- attention method


class _ExplicitCapture:
    """diffusers-style processor: explicit ``softmax(QK^T)`` attention; keeps token ``token`` of ``heads``."""

    def __init__(self, sink: list[torch.Tensor] | None, heads: Sequence[int], token: int) -> None:
        self.sink = sink
        self.heads = list(heads)
        self.token = token

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args: Any, **kwargs: Any) -> torch.Tensor:
        batch = hidden_states.shape[0]
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))
        key = attn.head_to_batch_dim(attn.to_k(context))
        value = attn.head_to_batch_dim(attn.to_v(context))
        probs = attn.get_attention_scores(query, key, None)  # (B*heads, N, T), explicit
        if self.sink is not None:
            per_head = probs.view(batch, attn.heads, probs.shape[1], probs.shape[2])
            self.sink.append(per_head[:, self.heads, :, self.token].mean(dim=1))  # (B, N)
        out = attn.batch_to_head_dim(torch.bmm(probs, value))
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor


def _gaussian(point: tuple[float, float], side: int, sigma: float, device: torch.device) -> torch.Tensor:
    c = torch.arange(side, device=device, dtype=torch.float32) + 0.5
    gx = torch.exp(-((c - point[0]) ** 2) / (2 * sigma**2))
    gy = torch.exp(-((c - point[1]) ** 2) / (2 * sigma**2))
    return gy[:, None] * gx[None, :]


class AuthorsLoopAttention:
    """The attention method as the authors' loop runs it (see the module docstring)."""

    def __init__(
        self,
        comps: Any,
        *,
        layers: Sequence[str],
        heads: Sequence[int] | str,
        token: int = 1,
        resolution: int = 512,
        crop_fraction: float = 0.9316549294381423,
        sigma_px: float = 27.97853316316864,
        lr: float = 0.0023755632081200314,
        timestep_optimize: int = 140,
        timestep_infer: int = 40,
        device: torch.device,
        seed: int = 0,
    ) -> None:
        from diffusers.models.attention_processor import AttnProcessor

        from labeler.correspondence.attention_maps import resolve_heads

        self.comps = comps
        self.layers = list(layers)
        self.resolution = resolution
        self.crop = int(resolution * crop_fraction)
        self.sigma = sigma_px
        self.lr = lr
        self.t_opt, self.t_inf = timestep_optimize, timestep_infer
        self.device = device
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        self.maps: dict[str, list[torch.Tensor]] = {layer: [] for layer in self.layers}
        unet = comps.unet
        processors: dict[str, Any] = {name: AttnProcessor() for name in unet.attn_processors}
        for layer in self.layers:
            for name, module in unet.get_submodule(layer).named_modules():
                if name.endswith("attn2"):
                    chosen = resolve_heads(heads, module.heads, layer)
                    processors[f"{layer}.{name}.processor"] = _ExplicitCapture(self.maps[layer], chosen, token)
        unet.set_attn_processor(processors)
        self.context_dim = int(unet.config.cross_attention_dim)

    def working(self, image: np.ndarray) -> torch.Tensor:
        pil = Image.fromarray(image).resize((self.resolution, self.resolution), Image.Resampling.BILINEAR)
        return torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1).float().div(255.0)[None].to(self.device)

    def _pass(self, work: torch.Tensor, start: tuple[int, int], context: torch.Tensor, timestep: int) -> list[torch.Tensor]:
        """VAE-encode the crop, noise it, run the WHOLE UNet; per layer ``(1, R, R)`` maps."""
        x0, y0 = start
        crop = F.interpolate(work[:, :, y0 : y0 + self.crop, x0 : x0 + self.crop], size=(self.resolution,) * 2,
                             mode="bilinear", align_corners=False)
        vae = self.comps.vae
        with torch.no_grad():
            lat = vae.encode(crop * 2 - 1).latent_dist.mean * vae.config.scaling_factor
            noise = torch.rand(lat.shape, generator=self.gen).to(self.device)
            t = torch.tensor([timestep], device=self.device)
            noisy = self.comps.scheduler.add_noise(lat, noise, t)
        for sink in self.maps.values():
            sink.clear()
        self.comps.unet(noisy, t, encoder_hidden_states=context)  # no truncation
        out = []
        for layer in self.layers:
            probs = torch.stack(self.maps[layer]).mean(0)  # (1, N)
            side = math.isqrt(probs.shape[1])
            out.append(F.interpolate(probs.view(1, 1, side, side), size=(self.resolution,) * 2, mode="bilinear",
                                     align_corners=False)[:, 0])
        return out

    def new_context(self) -> torch.Tensor:
        return torch.randn((1, 77, self.context_dim), generator=self.gen).to(self.device).requires_grad_(True)

    def optimisation_step(self, work: torch.Tensor, point: tuple[float, float], context: torch.Tensor,
                          optim: torch.optim.Optimizer) -> float:
        """One Adam step of one embedding for one keypoint (point in working pixels)."""
        last = self.resolution - self.crop
        u = torch.rand(2, generator=self.gen).tolist()
        start = (int(u[0] * (last + 1)), int(u[1] * (last + 1)))
        s = self.resolution / self.crop
        goal = _gaussian(((point[0] - start[0]) * s, (point[1] - start[1]) * s), self.resolution, self.sigma, self.device)
        maps = self._pass(work, start, context, self.t_opt)
        loss = torch.stack([F.mse_loss(m[0], goal) for m in maps]).mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
        return float(loss.detach())

    def inference_pass(self, work: torch.Tensor, start: tuple[int, int], context: torch.Tensor) -> torch.Tensor:
        """One crop of one embedding: ``(L, R, R)`` maps pasted into the working image."""
        with torch.no_grad():
            maps = self._pass(work, start, context, self.t_inf)
            canvas = torch.zeros((len(maps), self.resolution, self.resolution), device=self.device)
            x0, y0 = start
            for i, m in enumerate(maps):
                canvas[i, y0 : y0 + self.crop, x0 : x0 + self.crop] = F.interpolate(
                    m[None], size=(self.crop, self.crop), mode="bilinear", align_corners=False)[0, 0]
        return canvas
