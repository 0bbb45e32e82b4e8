"""DIFT on the tiny random-weight SD: identity, batching, serialisation, truncation, settings.

Random weights carry position, not content, so these tests check bookkeeping (shapes,
coordinates, batching, truncation); real geometry is tested with the classical matcher.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from labeler.correspondence import dift
from labeler.correspondence.base import DeviceOutOfMemory, ReferenceState
from labeler.correspondence.cards import find_card
from labeler.correspondence.config import DIFT_FAST, DIFT_PAPER
from labeler.correspondence.registry import create_matcher
from labeler.errors import Cancelled, UserInputError
from labeler.imaging import load_rgb


@pytest.fixture(scope="module")
def matcher():
    return create_matcher("dift", model="tiny-random", device="cpu")


@pytest.fixture(scope="module")
def clean():
    """Noise-free (CleanDIFT's setting): the reference and a target that is the same image then
    give the same features, which coordinate bookkeeping tests need. With noise the reference
    (8 draws) and the target (1 draw) see different noise, and random weights carry no content
    to outweigh it."""
    return dift.build("tiny-random", "fast", "cpu", noise=False)


@pytest.fixture(scope="module")
def image(photos):
    """A non-square photo, 240 x 160."""
    return np.asarray(Image.fromarray(photos["astronaut"]).resize((240, 160), Image.Resampling.BICUBIC))


def interior_points(width, height, n=10, seed=0):
    """Points at least 0.6 feature cells (tiny at 256 px: 16 cells per side) from every border.

    Closer to the border the bilinear feature map is clamped (constant), as in the authors'
    upsampling, so such points are not unique even on the reference image itself.
    """
    rng = np.random.default_rng(seed)
    mx, my = 0.6 * width / 16, 0.6 * height / 16
    xy = rng.uniform([mx, my], [width - mx, height - my], size=(n, 2))
    return {f"kp{i}": (float(x), float(y)) for i, (x, y) in enumerate(xy)}


def test_build_uses_the_card_and_fast_preset(matcher):
    cfg = matcher.config
    assert (cfg.resolution, cfg.timestep, cfg.feature_block) == (256, 261, "up_blocks.1")
    assert (cfg.ensemble, cfg.refine, cfg.match_side) == (1, "soft_argmax", 768)
    assert matcher.device == "cpu" and matcher.dtype == torch.float32
    # The prompt embedding is computed once; the text encoder and VAE decoder are dropped.
    assert matcher.featurizer.prompt_embeds.shape == (1, 77, 32)
    assert matcher.featurizer.comps.text_encoder is None
    assert matcher.featurizer.comps.vae.decoder is None


def test_feature_map_shape(matcher, image):
    feats = matcher.featurizer([image])
    assert feats.shape == (1, 64, 16, 16)  # up_blocks[1] after its upsampler: 1/16 of 256 px
    assert feats.dtype == torch.float32


@pytest.mark.parametrize("portrait", [False, True])
def test_identity_returns_the_query_points(clean, image, portrait):
    matcher = clean
    img = np.ascontiguousarray(image.transpose(1, 0, 2)) if portrait else image
    h, w = img.shape[:2]
    pts = interior_points(w, h)
    ref = matcher.prepare_reference(img, pts)
    pred = matcher.predict([ref], [img])[0]
    assert pred.names == tuple(pts)
    err = np.linalg.norm(pred.xy - np.array(list(pts.values())), axis=1)
    assert err.max() <= 1.0, err
    assert np.all((pred.confidence >= 0) & (pred.confidence <= 1))
    assert pred.confidence.min() > 0.5


def test_identity_on_an_exif_rotated_file(clean, image, tmp_path):
    matcher = clean
    # Stored landscape with orientation 6 (rotate 90 cw to display): displayed as 160 x 240.
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(image).save(path, quality=95, exif=exif.tobytes())
    shown = load_rgb(path)
    assert shown.shape[:2] == (240, 160)
    pts = interior_points(160, 240, seed=3)
    ref = matcher.prepare_reference(shown, pts)
    assert ref.image_size == (160, 240)
    pred = matcher.predict([ref], [shown])[0]
    assert np.abs(pred.xy - np.array(list(pts.values()))).max() <= 1.0


def test_batched_prediction_equals_one_at_a_time(matcher, image, photos):
    other = np.asarray(Image.fromarray(photos["coffee"]).resize((200, 150)))
    targets = [image, other, image[:, ::-1].copy()]
    # Features: the same up to float summation order (batched convolutions may add in another order).
    batched_feats = matcher.featurizer(targets)
    single_feats = torch.cat([matcher.featurizer([t]) for t in targets])
    torch.testing.assert_close(batched_feats, single_feats, rtol=1e-5, atol=1e-5)
    ref = matcher.prepare_reference(image, interior_points(240, 160))
    batched = dift.build("tiny-random", "fast", "cpu", batch_size=3).predict([ref], targets)
    single = [matcher.predict([ref], [t])[0] for t in targets]
    diffs = []
    for b, s, t in zip(batched, single, targets):
        assert b.names == s.names
        # On a flat similarity map two grid cells can tie to float precision, so the argmax (and
        # the soft-argmax window around it) may move by one cell of the 768-cell matching grid.
        cell = max(t.shape[:2]) / 768
        diff = np.abs(b.xy - s.xy).max(axis=1)
        assert diff.max() <= cell + 1e-6
        same = diff < 1e-3
        np.testing.assert_allclose(b.confidence[same], s.confidence[same], atol=1e-4, rtol=0)
        np.testing.assert_allclose(b.confidence, s.confidence, atol=1e-2, rtol=0)
        diffs.append(diff)
    assert np.mean(np.concatenate(diffs) < 1e-3) >= 0.9


def test_source_and_target_never_share_noise(matcher, image, photos):
    other = np.asarray(Image.fromarray(photos["coffee"]).resize((240, 160)))
    pixels = dift.resized_uint8([image, other], matcher.config.resolution)
    shape = (4, 32, 32)
    a, b = (matcher.featurizer.image_draws(p, shape, 1) for p in pixels)
    assert not torch.allclose(a[0], b[0]) and not torch.allclose(a[1], b[1])
    # The correlation of two images' noise is that of independent draws (|r| ~ 1/sqrt(4096)).
    r = torch.corrcoef(torch.stack([a[1].flatten(), b[1].flatten()]))[0, 1]
    assert abs(float(r)) < 0.06


def test_the_same_image_gives_identical_features_twice(matcher, image):
    a = matcher.featurizer([image])
    b = matcher.featurizer([image.copy()])
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_batch_composition_changes_nothing(matcher, image, photos):
    other = np.asarray(Image.fromarray(photos["coffee"]).resize((200, 150)))
    third = np.asarray(Image.fromarray(photos["chelsea"]).resize((180, 120)))
    alone = matcher.featurizer([image])[0]
    with_other = matcher.featurizer([other, image])[1]
    with_third = matcher.featurizer([image, third, other])[0]
    # Equal up to float summation order of batched convolutions; another noise draw moves features ~1.
    torch.testing.assert_close(with_other, alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(with_third, alone, rtol=1e-5, atol=1e-5)


def test_references_are_described_with_eight_draws_in_every_preset(matcher, image):
    assert matcher.config.ensemble == 1 and matcher.config.reference_ensemble == 8
    assert DIFT_PAPER.reference_ensemble == DIFT_FAST.reference_ensemble == 8
    maps = matcher._reference_maps(image)
    torch.testing.assert_close(maps, matcher.featurizer([image], ensemble=8), rtol=0, atol=0)
    assert not torch.allclose(maps, matcher.featurizer([image], ensemble=1))
    # Both presets describe references alike, so their reference states are interchangeable.
    assert dift.build("tiny-random", "paper", "cpu").reference_signature == matcher.reference_signature


def test_without_noise_the_clean_latent_is_used(image):
    clean = dift.build("tiny-random", "fast", "cpu", noise=False, ensemble=2)
    feats = clean.featurizer([image])
    # The posterior is near-deterministic (tiny's log-variance -12): copies barely differ, and the
    # features are far from any noisy ones.
    one = clean.featurizer([image], ensemble=1)
    posterior_only = float((one - feats).norm() / feats.norm())
    noisy = dift.build("tiny-random", "fast", "cpu").featurizer([image])
    assert posterior_only < float((noisy - feats).norm() / feats.norm()) / 10
    assert clean.signature != dift.build("tiny-random", "fast", "cpu", ensemble=2).signature


def test_features_are_reproducible_and_seeded(matcher, image):
    a = matcher.featurizer([image])
    b = matcher.featurizer([image])
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    other = dift.build("tiny-random", "fast", "cpu", seed=1)
    assert not torch.allclose(other.featurizer([image]), a)


def test_restored_reference_predicts_identically(matcher, image, photos):
    target = np.asarray(Image.fromarray(photos["chelsea"]).resize((180, 120)))
    ref = matcher.prepare_reference(image, interior_points(240, 160))
    restored = ReferenceState.from_bytes(ref.to_bytes())
    assert restored.signature == ref.signature and restored.names == ref.names
    assert restored.arrays["descriptors"].shape == (10, 1, 64)
    a = matcher.predict([ref], [target])[0]
    b = matcher.predict([restored], [target])[0]
    np.testing.assert_array_equal(a.xy, b.xy)
    np.testing.assert_array_equal(a.confidence, b.confidence)


def test_truncated_unet_gives_the_full_runs_features(matcher, image, monkeypatch):
    unet = matcher.featurizer.comps.unet
    tail_ran = []
    handle = unet.conv_out.register_forward_hook(lambda *_: tail_ran.append(True))
    try:
        truncated = matcher.featurizer([image])
        assert not tail_ran  # up_blocks[2:] and conv_out never ran

        def full_forward(model, block, *args, **kwargs):
            recorded = []
            h = model.get_submodule(block).register_forward_hook(lambda _m, _i, out: recorded.append(out))
            try:
                model(*args, **kwargs)
            finally:
                h.remove()
            return recorded[0]

        monkeypatch.setattr(dift, "run_until", full_forward)
        full = matcher.featurizer([image])
        assert tail_ran
    finally:
        handle.remove()
    torch.testing.assert_close(truncated, full, rtol=0, atol=0)


def test_several_references_are_combined_per_keypoint(matcher, image, photos):
    second = np.asarray(Image.fromarray(photos["coffee"]).resize((200, 150)))
    # Generic positions: a point exactly halfway between two matching-grid cells would tie.
    ref_a = matcher.prepare_reference(image, {"nose": (60.37, 40.21), "tail": (180.13, 119.66)})
    ref_b = matcher.prepare_reference(second, {"tail": (50.42, 70.29), "paw": (150.71, 100.17)})
    target = image
    both = matcher.predict([ref_a, ref_b], [target])[0]
    assert both.names == ("nose", "tail", "paw")
    only_a = matcher.predict([ref_a], [target])[0]
    only_b = matcher.predict([ref_b], [target])[0]
    # A keypoint only one reference has is predicted from that reference alone.
    np.testing.assert_allclose(both.xy[0], only_a.xy[0], atol=1e-6)
    np.testing.assert_allclose(both.xy[2], only_b.xy[1], atol=1e-6)
    # Best-of: the target is reference A's image, whose own "tail" is a perfect match.
    np.testing.assert_allclose(both.xy[1], only_a.xy[1], atol=1e-6)
    # The same reference twice changes nothing under either combination.
    twice = matcher.predict([ref_a, ref_a], [target])[0]
    np.testing.assert_allclose(twice.xy, only_a.xy, atol=1e-6)


def test_signatures_are_stable_and_track_settings(matcher):
    again = dift.build("tiny-random", "fast", "cpu")
    assert again.signature == matcher.signature
    assert again.reference_signature == matcher.reference_signature
    assert dift.build("tiny-random", "fast", "cpu", batch_size=2).signature == matcher.signature
    refine = dift.build("tiny-random", "fast", "cpu", refine="argmax")
    assert refine.signature != matcher.signature
    assert refine.reference_signature == matcher.reference_signature  # same descriptors
    timestep = dift.build("tiny-random", "fast", "cpu", timestep=101)
    assert timestep.signature != matcher.signature
    assert timestep.reference_signature != matcher.reference_signature
    paper = dift.build("tiny-random", "paper", "cpu")
    assert paper.signature != matcher.signature
    ensemble = dift.build("tiny-random", "fast", "cpu", ensemble=4)
    assert ensemble.signature != matcher.signature
    assert ensemble.reference_signature == matcher.reference_signature  # references keep 8 draws
    ref8 = dift.build("tiny-random", "fast", "cpu", reference_ensemble=2)
    assert ref8.reference_signature != matcher.reference_signature


def test_signatures_record_the_compute_dtype():
    """bf16 on CUDA and fp32 on the CPU give slightly different numbers: predictions say which."""
    m = dift.build("tiny-random", "fast", "cpu")
    assert m.compute_dtype == "float32"
    m.featurizer.vae_autocast = torch.bfloat16
    assert m.compute_dtype == "float32+bfloat16-encoder"
    before = m.signature
    m.featurizer.vae_autocast = None
    assert m.signature != before


def test_a_reference_from_other_settings_is_refused(matcher, image):
    other = dift.build("tiny-random", "fast", "cpu", timestep=101)
    ref = other.prepare_reference(image, {"a": (100.0, 80.0)})
    with pytest.raises(UserInputError, match="different settings"):
        matcher.predict([ref], [image])


def test_progress_and_cancellation(matcher, image):
    calls = []
    matcher.prepare_reference(image, {"a": (100.0, 80.0)}, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 1), (1, 1)]
    ref = matcher.prepare_reference(image, {"a": (100.0, 80.0)})
    with pytest.raises(Cancelled):
        matcher.predict([ref], [image, image], should_stop=lambda: True)
    with pytest.raises(Cancelled):
        matcher.prepare_reference(image, {"a": (1.0, 1.0)}, should_stop=lambda: True)


def test_out_of_memory_becomes_device_out_of_memory(matcher, image, monkeypatch):
    ref = matcher.prepare_reference(image, {"a": (100.0, 80.0)})

    def oom(_images):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(matcher, "_feature_maps", oom)
    with pytest.raises(DeviceOutOfMemory, match="smaller batch"):
        matcher.predict([ref], [image])


def test_move_to_cpu_keeps_predictions(image):
    m = dift.build("tiny-random", "fast", "cpu")
    ref = m.prepare_reference(image, {"a": (100.0, 80.0)})
    before = m.predict([ref], [image])[0]
    m.to("cpu")
    assert m.device == "cpu" and m.dtype == torch.float32
    np.testing.assert_array_equal(m.predict([ref], [image])[0].xy, before.xy)


@pytest.mark.parametrize(
    "points",
    [{}, {"a": (241.0, 10.0)}, {"a": (-0.5, 10.0)}, {"a": (float("nan"), 1.0)}],
)
def test_bad_points_are_refused(matcher, image, points):
    with pytest.raises(UserInputError):
        matcher.prepare_reference(image, points)


def test_bad_images_are_refused(matcher, image):
    ref = matcher.prepare_reference(image, {"a": (100.0, 80.0)})
    with pytest.raises(UserInputError, match="RGB"):
        matcher.predict([ref], [image[..., 0]])
    with pytest.raises(UserInputError, match="uint8"):
        matcher.predict([ref], [image.astype(np.float32)])
    with pytest.raises(UserInputError, match="reference"):
        matcher.predict([], [image])


def test_border_points_stay_in_the_image(clean, image):
    matcher = clean
    # Exactly on the borders and corners: predictions stay inside the image and near the border.
    pts = {"tl": (0.0, 0.0), "br": (240.0, 160.0), "left": (0.0, 80.0), "bottom": (120.0, 160.0)}
    pred = matcher.predict([matcher.prepare_reference(image, pts)], [image])[0]
    assert np.all((pred.xy >= 0) & (pred.xy <= [240, 160]))
    # Within the clamped band (half a feature cell: 7.5 x 5 px here) of the true position.
    assert np.all(np.abs(pred.xy - np.array(list(pts.values()))) <= [7.5 + 1, 5 + 1])


def test_unknown_override_and_bad_values_are_refused():
    with pytest.raises(UserInputError, match="unknown setting"):
        dift.build("tiny-random", "fast", "cpu", window=3)
    with pytest.raises(UserInputError, match="refine"):
        dift.build("tiny-random", "fast", "cpu", refine="median")
    with pytest.raises(UserInputError, match="feature_block|block"):
        dift.build("tiny-random", "fast", "cpu", feature_block="up_blocks.9")


def test_paper_preset_is_the_authors_setting():
    card = find_card("sd-2-1")
    cfg = dift.config_for("paper", card.method_settings("dift"), card.resolution)
    assert (cfg.resolution, cfg.timestep, cfg.feature_block, cfg.ensemble) == (768, 261, "up_blocks.1", 8)
    assert cfg.effective_prompt == "" and cfg.refine == "argmax" and cfg.match_side is None
    cat = dift.config_for("paper", card.method_settings("dift"), card.resolution, category="cat")
    assert cat.effective_prompt == "a photo of a cat"
    fast = dift.config_for("fast", card.method_settings("dift"), card.resolution)
    changed = {f.name for f in dataclasses.fields(fast) if getattr(fast, f.name) != getattr(cfg, f.name)}
    assert changed == {"ensemble", "refine", "match_side"}
    assert DIFT_PAPER.ensemble == 8 and DIFT_FAST.ensemble == 1
    assert (fast.soft_window, fast.soft_temperature) == (11, 0.02)
