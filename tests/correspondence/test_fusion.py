"""SD + DINOv2 fusion on the tiny random SD and tiny random DINOv2: identity, shapes, batching,
flip, truncation, noise, settings.

Random weights carry position, not content: these tests check bookkeeping (shapes, coordinates,
batching, truncation, normalisation); real geometry is tested with the classical matcher.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from labeler.correspondence import fusion
from labeler.correspondence.base import ReferenceState
from labeler.correspondence.fusion_config import FUSION_FAST, FUSION_PAPER, SD_LAYERS
from labeler.correspondence.registry import create_matcher
from labeler.errors import UserInputError

GRID = 16  # tiny-random card: 256 px SD / 16 = 224 px DINOv2 / 14


@pytest.fixture(scope="module")
def matcher():
    return create_matcher("fusion", model="tiny-random", device="cpu")


@pytest.fixture(scope="module")
def image(photos):
    """A non-square photo, 240 x 160."""
    return np.asarray(Image.fromarray(photos["astronaut"]).resize((240, 160), Image.Resampling.BICUBIC))


def interior_points(width, height, n=8, seed=0):
    rng = np.random.default_rng(seed)
    mx, my = 1.5 * width / GRID, 1.5 * height / GRID
    xy = rng.uniform([mx, my], [width - mx, height - my], size=(n, 2))
    return {f"kp{i}": (float(x), float(y)) for i, (x, y) in enumerate(xy)}


def test_presets_are_the_authors_and_a_cheaper_one():
    assert (FUSION_PAPER.sd_resolution, FUSION_PAPER.dino_resolution, FUSION_PAPER.grid) == (960, 840, 60)
    assert (FUSION_PAPER.timestep, FUSION_PAPER.sd_layers, FUSION_PAPER.sd_weight) == (50, SD_LAYERS, 0.5)
    assert (FUSION_PAPER.refine, FUSION_PAPER.soft_window, FUSION_PAPER.soft_temperature) == ("soft_argmax", 11, 0.02)
    assert (FUSION_PAPER.match_side, FUSION_PAPER.sd_window) == (60, 512)
    assert fusion.window_starts(960, 512) == [0, 448]  # ODISE's sliding inference: 2 x 2 crops
    assert fusion.window_starts(768, 768) == [0] and fusion.window_starts(1100, 512) == [0, 512, 588]
    assert (FUSION_FAST.sd_resolution, FUSION_FAST.dino_resolution, FUSION_FAST.grid, FUSION_FAST.match_side) == (
        768, 672, 48, 48)


def test_build_uses_the_tiny_card_and_the_tiny_dinov2(matcher):
    cfg = matcher.config
    assert (cfg.sd_resolution, cfg.dino_resolution, cfg.grid, cfg.match_side) == (256, 224, GRID, GRID)
    assert matcher.dino_source.startswith("tiny-random:") and matcher.dino_layer == 1
    assert matcher.featurizer.comps.text_encoder is None and matcher.featurizer.comps.vae.decoder is None


def test_fused_maps_cover_the_image_and_are_unit_halves(matcher, image):
    (fmap,) = matcher.featurizer([image])
    # 3 SD taps of 64 channels (s3, s4, s5 of the tiny UNet) + 32 DINOv2 channels; 16 x 11 cells (240 x 160).
    assert fmap.shape == (64 * 3 + 32, 11, GRID)
    sd, dn = fmap[:192], fmap[192:]
    torch.testing.assert_close(sd.norm(dim=0), torch.full((11, GRID), 0.5**0.5), rtol=0, atol=1e-5)
    torch.testing.assert_close(dn.norm(dim=0), torch.full((11, GRID), 0.5**0.5), rtol=0, atol=1e-5)


def test_square_images_keep_the_authors_grid_exactly(matcher, photos):
    square = np.asarray(Image.fromarray(photos["chelsea"]).resize((200, 200)))
    f = matcher.featurizer
    raw = f.sd_maps(fusion.squares([square], 256))[0]
    (fmap,) = f([square])
    torch.testing.assert_close(fmap[:192], torch.nn.functional.normalize(raw, dim=0) * 0.5**0.5, rtol=0, atol=1e-6)


def test_sliding_window_runs_the_unet_on_crops_and_averages_overlaps(photos):
    m = fusion.build("tiny-random", "fast", "cpu", sd_resolution=384, dino_resolution=336, sd_window=256)
    unet = m.featurizer.comps.unet
    seen = []
    h = unet.conv_in.register_forward_hook(lambda _m, inp, _o: seen.append(tuple(inp[0].shape)))
    img = np.asarray(Image.fromarray(photos["rocket"]).resize((300, 200)))
    try:
        (fmap,) = m.featurizer([img])
    finally:
        h.remove()
    assert seen == [(4, 4, 32, 32)]  # 2 x 2 crops of 256 px (latent 32), one UNet batch
    assert fmap.shape == (224, 16, 24)  # 24 cells on the long side: 384 / 16 = 336 / 14
    sq = fusion.squares([img], 384)
    raw = m.featurizer.sd_maps(sq)
    assert raw.shape == (1, 192, 24, 24) and torch.isfinite(raw).all()
    # Cells outside the overlap come from one crop only: the top-left 8 x 8 s3 cells equal a
    # pass over the top-left crop alone (same noise: the image's first draw).
    noise = m.featurizer.crop_noise(sq, 4, 256)
    crop = sq[:, :256, :256].permute(0, 3, 1, 2)
    s3 = m.featurizer._unet_taps(crop, noise[:1])[0]
    assert s3.shape == (1, 64, 16, 16)
    torch.testing.assert_close(raw[0, :64, :8, :8], s3[0, :, :8, :8], rtol=1e-3, atol=1e-3)
    # In the overlap (s3 cells 8..15) the two crops' maps are averaged, so it differs from crop 0.
    assert not torch.allclose(raw[0, :64, :8, 8:16], s3[0, :, :8, 8:16], rtol=1e-3, atol=1e-3)


def test_padding_follows_the_authors_resize():
    assert fusion.content_box((400, 300), 960) == (0, 120, 960, 720)
    assert fusion.content_box((300, 401), 960) == (121, 0, 718, 960)
    canvas = fusion.pad_to_square(np.full((30, 40, 3), 200, np.uint8), 64)
    assert canvas.shape == (64, 64, 3)
    assert canvas[:8].max() == 0 and canvas[56:].max() == 0 and canvas[8:56].min() > 190


@pytest.mark.parametrize("portrait", [False, True])
def test_identity_returns_the_query_points(matcher, image, portrait):
    img = np.ascontiguousarray(image.transpose(1, 0, 2)) if portrait else image
    h, w = img.shape[:2]
    pts = interior_points(w, h)
    ref = matcher.prepare_reference(img, pts)
    pred = matcher.predict([ref], [img])[0]
    assert pred.names == tuple(pts)
    cell = max(w, h) / GRID
    err = np.linalg.norm(pred.xy - np.array(list(pts.values())), axis=1)
    # Matching happens on the 16-cell grid with the 11-cell soft-argmax: within a cell of the query.
    assert err.max() <= cell, err / cell
    assert np.all((pred.confidence >= 0) & (pred.confidence <= 1))


def test_identity_is_exact_at_cell_centres_with_plain_argmax(image):
    m = fusion.build("tiny-random", "fast", "cpu", refine="argmax")
    h, w = image.shape[:2]
    gw, gh = GRID, 11
    pts = {f"c{i}": ((i * 3 + 2.5) * w / gw, (i + 2.5) * h / gh) for i in range(4)}
    pred = m.predict([m.prepare_reference(image, pts)], [image])[0]
    np.testing.assert_allclose(pred.xy, np.array(list(pts.values())), atol=1e-6)


def test_batched_prediction_equals_one_at_a_time(matcher, image, photos):
    other = np.asarray(Image.fromarray(photos["coffee"]).resize((200, 150)))
    targets = [image, other, image[:, ::-1].copy()]
    batched = matcher.featurizer(targets)
    single = [matcher.featurizer([t])[0] for t in targets]
    for b, s in zip(batched, single):
        # The same up to float summation order: oneDNN's batched VAE convolutions differ by ~1e-3
        # relative on zero-padded squares, so compare the unit-length cell vectors by cosine.
        assert torch.nn.functional.cosine_similarity(b, s, dim=0).min() > 1 - 1e-5
    ref = matcher.prepare_reference(image, interior_points(240, 160))
    many = fusion.build("tiny-random", "fast", "cpu", batch_size=3).predict([ref], targets)
    one = [matcher.predict([ref], [t])[0] for t in targets]
    for b, s, t in zip(many, one, targets):
        assert b.names == s.names
        cell = max(t.shape[:2]) / GRID
        assert np.abs(b.xy - s.xy).max() <= cell  # float ties may move a peak by one cell
        assert np.mean(np.abs(b.xy - s.xy).max(axis=1) < 0.01 * cell) >= 0.75


def test_each_image_draws_its_own_reproducible_noise(matcher, image, photos):
    other = np.asarray(Image.fromarray(photos["coffee"]).resize((240, 160)))
    a, b = fusion.squares([image, other], 256).numpy()
    assert fusion.content_seed(0, a) == fusion.content_seed(0, a.copy())
    assert fusion.content_seed(0, a) != fusion.content_seed(0, b)
    assert fusion.content_seed(0, a) != fusion.content_seed(1, a)
    first = matcher.featurizer([image])[0]
    torch.testing.assert_close(matcher.featurizer([image])[0], first, rtol=0, atol=0)
    reseeded = fusion.build("tiny-random", "fast", "cpu", seed=1).featurizer([image])[0]
    assert not torch.allclose(reseeded[:192], first[:192])  # the SD half sees other noise
    torch.testing.assert_close(reseeded[192:], first[192:], rtol=0, atol=0)  # DINOv2 is noise-free


def test_mirrored_target_is_matched_mirrored(matcher, image):
    """Flip bookkeeping: a reference on the image predicts x -> W - x on its mirror image."""
    h, w = image.shape[:2]
    pts = interior_points(w, h, seed=4)
    mirrored = np.ascontiguousarray(image[:, ::-1])
    ref = matcher.prepare_reference(mirrored, {k: (w - x, y) for k, (x, y) in pts.items()})
    pred = matcher.predict([ref], [mirrored])[0]
    cell = w / GRID
    err = np.abs(pred.xy - np.array([(w - x, y) for x, y in pts.values()])).max(axis=1)
    assert err.max() <= cell


def test_truncation_runs_nothing_after_the_needed_blocks(matcher, image, monkeypatch):
    unet = matcher.featurizer.comps.unet
    dino = matcher.featurizer.dino.model
    ran = []
    hooks = [
        unet.up_blocks[2].resnets[2].register_forward_hook(lambda *_: ran.append("up2.resnet2")),
        unet.up_blocks[3].register_forward_hook(lambda *_: ran.append("up3")),
        unet.conv_out.register_forward_hook(lambda *_: ran.append("conv_out")),
        dino.encoder.layer[2].register_forward_hook(lambda *_: ran.append("dino.layer2")),
        dino.layernorm.register_forward_hook(lambda *_: ran.append("dino.layernorm")),
    ]
    try:
        truncated = matcher.featurizer([image])[0]
        assert ran == []

        def full_forward(model, block, *args, **kwargs):
            recorded = []
            h = model.get_submodule(block).register_forward_hook(lambda _m, _i, out: recorded.append(out))
            try:
                model(*args, **kwargs)
            finally:
                h.remove()
            return recorded[0]

        monkeypatch.setattr(fusion, "run_until", full_forward)
        monkeypatch.setattr(fusion.dino_mod, "run_until", full_forward)
        full = matcher.featurizer([image])[0]
        assert {"up3", "conv_out", "dino.layer2", "dino.layernorm"} <= set(ran)
    finally:
        for h in hooks:
            h.remove()
    torch.testing.assert_close(truncated, full, rtol=0, atol=0)


def test_restored_reference_predicts_identically(matcher, image, photos):
    target = np.asarray(Image.fromarray(photos["chelsea"]).resize((180, 120)))
    ref = matcher.prepare_reference(image, interior_points(240, 160))
    restored = ReferenceState.from_bytes(ref.to_bytes())
    assert restored.arrays["descriptors"].shape == (8, 1, 224)
    a = matcher.predict([ref], [target])[0]
    b = matcher.predict([restored], [target])[0]
    np.testing.assert_array_equal(a.xy, b.xy)


def test_signatures_track_settings(matcher):
    again = fusion.build("tiny-random", "fast", "cpu")
    assert (again.signature, again.reference_signature) == (matcher.signature, matcher.reference_signature)
    assert fusion.build("tiny-random", "fast", "cpu", batch_size=5).signature == matcher.signature
    weight = fusion.build("tiny-random", "fast", "cpu", sd_weight=0.7)
    assert weight.reference_signature != matcher.reference_signature
    refine = fusion.build("tiny-random", "fast", "cpu", refine="argmax")
    assert refine.signature != matcher.signature and refine.reference_signature == matcher.reference_signature
    layer = fusion.build("tiny-random", "fast", "cpu", dino_layer=0)
    assert layer.reference_signature != matcher.reference_signature


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"sd_resolution": 320}, "same grid"),
        ({"dino_resolution": 230}, "multiple of 14"),
        ({"sd_weight": 1.5}, "sd_weight"),
        ({"sd_layers": ["up_blocks.9.resnets.0"]}, "no block"),
        ({"sd_layers": ["up_blocks.1.attentions.1", "up_blocks.0.resnets.1"]}, "order"),
        ({"ensemble": 2}, "unknown setting"),
        ({"dino_layer": 7}, "layer 7"),
    ],
)
def test_bad_settings_get_one_clear_message(overrides, message, image):
    from labeler.errors import LabelerError

    with pytest.raises(LabelerError, match=message):
        m = fusion.build("tiny-random", "fast", "cpu", **overrides)
        m.featurizer([image])


def test_unknown_dino_model_is_a_clear_message():
    from labeler.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="neither a folder"):
        fusion.build("tiny-random", "fast", "cpu", dino="no-such-dino")
    with pytest.raises(UserInputError):
        create_matcher("fusion", model="tiny-random", preset="nope")


def test_unet_passes_per_image_follow_the_sliding_window():
    assert FUSION_PAPER.sd_crops == 4 and FUSION_FAST.sd_crops == 1
    assert len(fusion.window_starts(960, 512)) ** 2 == FUSION_PAPER.sd_crops


def test_pose_maps_pick_the_pose_the_target_is_seen_in(matcher, image):
    """The authors' mutual-nearest-neighbour pose choice: a target identical to the reference's
    mirror image is at distance 0 from the mirrored pose and farther from the plain one."""
    from labeler.correspondence.poses import choose_pose, mirror_image, pose_distances, split_poses, tag_mirrored

    assert matcher.pose_criterion == "mutual_nn"
    h, w = image.shape[:2]
    pts = interior_points(w, h, n=4, seed=6)
    plain = matcher.prepare_reference(image, pts)
    pose_map = plain.image_arrays["pose_map"]
    assert pose_map.dtype == np.float16 and pose_map.shape == (224, 11, GRID)  # whole image, once
    assert "pose_map" not in plain.without_image().image_arrays and "pose_map" in plain.subset(["kp1"]).image_arrays
    mirrored = tag_mirrored(matcher.prepare_reference(mirror_image(image), {k: (w - x, y) for k, (x, y) in pts.items()}))
    refs = [plain, mirrored]
    same, flipped = matcher.predict(refs, [image, mirror_image(image)])
    d_same, d_flipped = pose_distances(same, refs), pose_distances(flipped, refs)
    assert d_same[0] < 0.02 < d_same[1] and d_flipped[1] < 0.02 < d_flipped[0]
    assert choose_pose(*split_poses(same), d_same)[1] is False
    assert choose_pose(*split_poses(flipped), d_flipped)[1] is True
    # keypoint-less states that carry only the pose map give the same distances
    maps_only = [plain.subset([]), mirrored.subset([])]
    again = matcher.predict([plain.without_image(), *maps_only], [mirror_image(image)])[0]
    assert again.meta["pose_distances"][0] != again.meta["pose_distances"][0]  # NaN: no pose map
    assert again.meta["pose_distances"][1:] == pytest.approx(flipped.meta["pose_distances"], abs=1e-4)


def test_confidence_pose_criterion_stores_no_pose_map(image):
    m = fusion.build("tiny-random", "fast", "cpu", pose="confidence")
    ref = m.prepare_reference(image, interior_points(240, 160, n=2))
    assert m.pose_criterion == "confidence" and not ref.image_arrays
    assert "pose_distances" not in m.predict([ref], [image])[0].meta
    with pytest.raises(UserInputError, match="pose must be one of"):
        fusion.build("tiny-random", "fast", "cpu", pose="vote")
