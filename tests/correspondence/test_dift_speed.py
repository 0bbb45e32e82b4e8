"""DIFT's speed changes give the straightforward computation's result (tiny random SD, CPU).

The straightforward version is written out here: float pixels scaled on the CPU, each image's
draws from a generator seeded by its own resized pixels, posterior repeated per ensemble member.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image

from labeler.correspondence import dift
from labeler.correspondence.truncation import run_until


@pytest.fixture(scope="module")
def matcher():
    # 128 px, not the card's 256: an equality of two computations holds at any size, at a quarter of the work
    return dift.build("tiny-random", "paper", "cpu", ensemble=3, resolution=128)


@pytest.fixture(scope="module")
def images(photos):
    return [
        np.asarray(Image.fromarray(photos["astronaut"]).resize((240, 160), Image.Resampling.BICUBIC)),
        np.asarray(Image.fromarray(photos["coffee"]).resize((150, 200), Image.Resampling.BICUBIC)),
    ]


def straightforward_features(featurizer: dift.DiftFeaturizer, images: list[np.ndarray]) -> torch.Tensor:
    cfg = featurizer.config
    vae = copy.deepcopy(featurizer.comps.vae).to(memory_format=torch.contiguous_format)
    unet = copy.deepcopy(featurizer.comps.unet).to(memory_format=torch.contiguous_format)
    with torch.inference_mode():
        x = dift.preprocess(images, cfg.resolution)
        posterior = vae.encode(x).latent_dist
        e = cfg.ensemble
        eps, noise = [], []
        for pixels in dift.resized_uint8(images, cfg.resolution):
            gen = dift.image_generator(cfg.seed, pixels)
            eps.append(torch.randn((e, *posterior.mean.shape[1:]), generator=gen))
            noise.append(torch.randn((e, *posterior.mean.shape[1:]), generator=gen))
        latents = posterior.mean.repeat_interleave(e, 0) + posterior.std.repeat_interleave(e, 0) * torch.cat(eps)
        latents = latents * vae.config.scaling_factor
        t = torch.full((latents.shape[0],), cfg.timestep, dtype=torch.long)
        noisy = featurizer.comps.scheduler.add_noise(latents, torch.cat(noise), t)
        context = featurizer.prompt_embeds.expand(latents.shape[0], -1, -1)
        feats = run_until(unet, cfg.feature_block, noisy, t, encoder_hidden_states=context)
        return feats.float().reshape(len(images), e, *feats.shape[1:]).mean(1)


def test_features_equal_the_straightforward_computation(matcher, images):
    fast = matcher.featurizer(images)
    plain = straightforward_features(matcher.featurizer, images)
    assert fast.shape == plain.shape
    torch.testing.assert_close(fast, plain, rtol=1e-6, atol=1e-6)


def test_model_input_equals_the_float_pipeline(images):
    pixels = dift.resized_uint8(images, 64)
    assert pixels.shape == (2, 64, 64, 3) and pixels.dtype == torch.uint8
    plain = torch.stack([torch.from_numpy(np.asarray(Image.fromarray(im).resize((64, 64), Image.Resampling.BICUBIC)).copy())
                         for im in images]).permute(0, 3, 1, 2).float() / 255.0 * 2.0 - 1.0
    for channels_last in (False, True):
        x = dift.model_input(pixels, torch.device("cpu"), torch.float32, channels_last)
        assert torch.equal(x, plain)  # bit for bit
        assert x.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert torch.equal(dift.preprocess(images, 64), plain)


def test_draws_come_from_a_generator_seeded_by_the_images_pixels(matcher, images):
    featurizer = matcher.featurizer
    pixels = dift.resized_uint8(images, 64)
    shape = (4, 8, 8)
    eps, noise = featurizer.image_draws(pixels[0], shape, 3)
    gen = dift.image_generator(featurizer.config.seed, pixels[0])
    torch.testing.assert_close(eps, torch.randn((3, *shape), generator=gen), rtol=0, atol=0)
    torch.testing.assert_close(noise, torch.randn((3, *shape), generator=gen), rtol=0, atol=0)
    assert eps.device.type == "cpu"  # drawn on the CPU, so every device sees the same numbers
    again = featurizer.image_draws(pixels[0].clone(), shape, 3)
    assert torch.equal(again[0], eps) and torch.equal(again[1], noise)
    other = featurizer.image_draws(pixels[1], shape, 3)
    assert not torch.allclose(other[0], eps) and not torch.allclose(other[1], noise)
    # One changed byte is another image.
    touched = pixels[0].clone()
    touched[0, 0, 0] ^= 1
    assert not torch.equal(featurizer.image_draws(touched, shape, 3)[1], noise)


def test_memory_formats_follow_the_device(images):
    assert dift.channels_last_parts(torch.device("cpu")) == frozenset()
    assert dift.channels_last_parts(torch.device("cuda")) == {"vae", "unet"}
    m = dift.build("tiny-random", "fast", "cpu", resolution=128)  # layouts and equality: any size does
    comps = m.featurizer.comps
    assert comps.vae.encoder.conv_in.weight.is_contiguous() and comps.unet.conv_in.weight.is_contiguous()
    before = m.featurizer(images)
    # The CUDA layout, exercised on the CPU: same features up to oneDNN's NHWC rounding.
    m.featurizer.use_channels_last({"vae", "unet"})
    assert comps.vae.encoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert comps.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    nhwc = m.featurizer(images)
    rel = (nhwc - before).norm() / before.norm()
    assert rel < 1e-3
    m.to("cpu")  # the OOM fallback path re-applies the device's layout
    assert comps.vae.encoder.conv_in.weight.is_contiguous()
    torch.testing.assert_close(m.featurizer(images), before, rtol=0, atol=0)


def test_cpu_bfloat16_runs_only_the_encoder_in_bf16(images):
    plain = dift.build("tiny-random", "fast", "cpu")
    assert plain.featurizer.vae_autocast is None and plain.dtype == torch.float32
    mixed = dift.build("tiny-random", "fast", "cpu", dtype="bfloat16")
    assert mixed.dtype == torch.float32  # weights and UNet stay fp32
    if not dift.cpu_bf16_supported():
        assert mixed.featurizer.vae_autocast is None
        return
    assert mixed.featurizer.vae_autocast == torch.bfloat16
    a, b = plain.featurizer(images), mixed.featurizer(images)
    assert a.dtype == b.dtype == torch.float32
    rel = float((b - a).norm() / a.norm())
    assert 0 < rel < 0.05  # bf16 rounding, far below what another noise seed changes
    seed = float((dift.build("tiny-random", "fast", "cpu", seed=1).featurizer(images) - a).norm() / a.norm())
    assert rel < seed / 10
    assert dift.encoder_autocast(torch.device("cuda"), "bfloat16") is None  # CUDA: bf16 weights instead
