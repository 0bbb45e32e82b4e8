"""A tiny random-weight Stable Diffusion, built deterministically from configs the project ships.

The weights are written with ``save_pretrained`` (safetensors) into a folder that is then loaded
through exactly the same ``from_pretrained`` code path as a real checkpoint.

Two latent statistics of the tiny model are set like a trained SD's, because the engines depend
on them (random weights would otherwise bury the image under noise):

* Posterior: a trained SD autoencoder is near-deterministic (its KL weight is 1e-6, so a sample
  of the posterior is practically its mean), while a freshly initialised one predicts a
  log-variance near 0, i.e. a posterior std of ~1 against a spread of ~0.4 in its means. The
  build gives the log-variance half of ``quant_conv`` zero weights and a bias of
  :data:`TINY_POSTERIOR_LOGVAR` (std ``exp(-6)`` = 0.0025, under 1% of the means' spread).
* Latent scale: SD's ``scaling_factor`` 0.18215 is 1 / the std of its latents, so scaled latents
  have unit std and the diffusion noise meets the image at the SNR the schedule was made for.
  ``models/tiny-sd/vae/config.json`` holds the same kind of number for the tiny VAE: 2.4965 =
  1 / 0.4006, the std of the tiny VAE's posterior means (seed 0) over scikit-image's chelsea,
  astronaut, coffee and rocket resized to 256 x 256 (``tests/correspondence/test_tiny.py``
  checks it). With SD's 0.18215 the scaled latents had std 0.073: at DIFT's t = 261 the image
  contributed 0.06 to the noisy latent's std against 0.15 of posterior sample and 0.59 of
  diffusion noise, so engines on the tiny model mostly saw noise; now it contributes 0.81.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labeler.paths import cache_dir, models_dir

TINY_SOURCE = "tiny-sd"
#: Log-variance of the tiny VAE's posterior (near-deterministic, like a trained SD autoencoder).
TINY_POSTERIOR_LOGVAR = -12.0
#: Bumped whenever the build recipe (not a shipped config) changes what gets built.
_RECIPE = 2


def _bytes_to_unicode() -> dict[int, str]:
    # CLIP's byte-level BPE alphabet: printable bytes map to themselves, the rest above U+0100.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_tiny_tokenizer(dest: Path) -> None:
    """A CLIP tokenizer with only the 256 byte symbols (no merges): 514 tokens, no download."""
    dest.mkdir(parents=True, exist_ok=True)
    symbols = [_bytes_to_unicode()[b] for b in range(256)]
    vocab: dict[str, int] = {}
    for s in symbols:
        vocab[s] = len(vocab)
    for s in symbols:
        vocab[s + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (dest / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (dest / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (dest / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "CLIPTokenizer",
                "model_max_length": 77,
                "bos_token": "<|startoftext|>",
                "eos_token": "<|endoftext|>",
                "pad_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
            }
        ),
        encoding="utf-8",
    )


def _source_dir() -> Path:
    return models_dir() / TINY_SOURCE


def config_fingerprint(source: Path, recipe: str) -> str:
    """Changes whenever a config under ``source`` or the build ``recipe`` changes, so caches rebuild."""
    h = hashlib.sha256(recipe.encode())
    for path in sorted(source.rglob("*.json")):
        h.update(path.relative_to(source).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _fingerprint(seed: int) -> str:
    return config_fingerprint(_source_dir(), f"seed={seed};recipe={_RECIPE};logvar={TINY_POSTERIOR_LOGVAR}")


def cached_build(final: Path, build: Callable[[Path], object], marker: str = "model_index.json") -> Path:
    """``final`` if it holds a model (its file ``marker``), else ``build(tmp)`` beside it and an
    atomic rename.

    Safe across processes: a concurrent builder's identical copy wins and ours is discarded.
    """
    if (final / marker).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-build-", dir=final.parent))
    try:
        build(tmp)
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / marker).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def set_posterior_logvar(vae: Any, logvar: float) -> None:
    """Make the VAE's posterior log-variance the constant ``logvar`` (the mean half is untouched)."""
    import torch

    quant = getattr(vae, "quant_conv", None)
    if quant is None:
        raise ValueError("this VAE has no quant_conv, so its posterior variance cannot be set")
    half = quant.out_channels // 2
    with torch.no_grad():
        quant.weight[half:].zero_()
        quant.bias[half:].fill_(logvar)


def build_random_sd(source: Path, dest: Path, seed: int = 0, posterior_logvar: float | None = None) -> Path:
    """Instantiate every component from the configs in ``source`` with seeded init; save to ``dest``.

    Used for the tiny test model (``models/tiny-sd``) and for real-size random models
    (``models/real-size/*``) that benchmarks time with the real FLOPs. ``posterior_logvar``
    (tiny model only) makes the VAE posterior near-deterministic, see the module docstring.
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    src = Path(source)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)

    def config(part: str, name: str = "config.json") -> dict:
        data = json.loads((src / part / name).read_text(encoding="utf-8"))
        return {k: v for k, v in data.items() if not k.startswith("_")}

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**config("unet"))
        torch.manual_seed(seed + 1)
        vae = AutoencoderKL(**config("vae"))
        if posterior_logvar is not None:
            set_posterior_logvar(vae, posterior_logvar)
        torch.manual_seed(seed + 2)
        text_cfg = config("text_encoder")
        text_cfg.pop("architectures", None)
        text_cfg.pop("model_type", None)
        text_encoder = CLIPTextModel(CLIPTextConfig(**text_cfg))

    unet.save_pretrained(dest / "unet", safe_serialization=True)
    vae.save_pretrained(dest / "vae", safe_serialization=True)
    text_encoder.save_pretrained(dest / "text_encoder", safe_serialization=True)
    DDIMScheduler(**config("scheduler", "scheduler_config.json")).save_pretrained(dest / "scheduler")
    write_tiny_tokenizer(dest / "tokenizer")
    shutil.copy(src / "model_index.json", dest / "model_index.json")
    return dest


def build_tiny_sd(dest: Path, seed: int = 0) -> Path:
    """The tiny test model from ``models/tiny-sd`` (near-deterministic VAE posterior)."""
    return build_random_sd(_source_dir(), dest, seed, posterior_logvar=TINY_POSTERIOR_LOGVAR)


def tiny_model_dir(seed: int = 0) -> Path:
    """The cached tiny model folder, built on first use (atomically, safe across processes)."""
    final = cache_dir() / "models" / f"tiny-random-{_fingerprint(seed)}"
    return cached_build(final, lambda tmp: build_tiny_sd(tmp, seed=seed))
