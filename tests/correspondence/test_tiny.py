"""The tiny random SD: deterministic, cached, safetensors only, the real models' topology."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from labeler.correspondence.tiny import _fingerprint, build_tiny_sd
from labeler.correspondence.tiny import tiny_model_dir as cached_tiny_dir


def test_cached_folder_is_reused(tiny_model_dir):
    assert cached_tiny_dir(0) == tiny_model_dir
    assert tiny_model_dir.name.endswith(_fingerprint(0))


def test_weights_are_safetensors_only(tiny_model_dir):
    files = [p.name for p in tiny_model_dir.rglob("*") if p.is_file()]
    assert any(f.endswith(".safetensors") for f in files)
    assert not any(f.endswith((".bin", ".ckpt", ".pt")) for f in files)


def test_same_seed_same_weights_other_seed_other_weights(tiny_model_dir, tmp_path):
    again = build_tiny_sd(tmp_path / "again", seed=0)
    a = load_file(next((tiny_model_dir / "unet").glob("*.safetensors")))
    b = load_file(next((again / "unet").glob("*.safetensors")))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _fingerprint(1) != _fingerprint(0)


def test_topology_matches_sd1(tiny_model_dir):
    unet = json.loads((tiny_model_dir / "unet" / "config.json").read_text())
    assert len(unet["down_block_types"]) == 4 and unet["layers_per_block"] == 2
    assert unet["up_block_types"][1] == "CrossAttnUpBlock2D"
    vae = json.loads((tiny_model_dir / "vae" / "config.json").read_text())
    assert len(vae["block_out_channels"]) == 4  # downsampling by 8


def test_latents_are_scaled_and_near_deterministic_like_trained_sd(tiny_model_dir, photos):
    """A trained SD VAE has a near-deterministic posterior and a scaling_factor giving unit-std
    latents (SD's 0.18215); the tiny model is built to match, see tiny.py."""
    import numpy as np
    from diffusers import AutoencoderKL
    from PIL import Image

    vae = AutoencoderKL.from_pretrained(tiny_model_dir / "vae")
    images = [np.asarray(Image.fromarray(photos[n]).resize((256, 256), Image.Resampling.BILINEAR)) for n in photos]
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        posterior = vae.encode(x).latent_dist
    spread = float(posterior.mean.std())
    assert float(posterior.std.max()) < 0.01 * spread
    assert abs(spread * vae.config.scaling_factor - 1.0) < 0.02
