"""The cross-attention prompt-optimisation engine on the tiny random SD (CPU, 256 px).

Random weights carry position, not content, so these tests check identity, bookkeeping, batching
and determinism. The tiny model starts with near-uniform attention over the 77 context positions
(attention logits with std ~0.3), so the optimisation needs a learning rate far above the paper's
(0.7 instead of 0.0024) to move within a few steps.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from labeler.correspondence import attention, crops
from labeler.correspondence.attention import AttentionMatcher, _generator, _LatentCache, build
from labeler.correspondence.base import DeviceOutOfMemory, ReferenceState
from labeler.correspondence.registry import create_matcher
from labeler.errors import Cancelled, UserInputError

POINTS = {"left": (90.0, 90.0), "right": (230.0, 160.0), "top": (150.0, 60.0)}
SIDE = 256  # tiny-random card resolution
SMALL = 128
COARSE = SIDE // 8  # up_blocks.1 maps are 8x8 at 256 px: cells of 32 px (up_blocks.2.attentions.0: 16 px)
#: Identity bounds in working pixels (worse axis per point, and mean over points and axes); see
#: test_identity_lands_near_the_query_points for where they come from.
IDENTITY_MAX = 16.0
IDENTITY_MEAN = 8.0


def _working(points: dict[str, tuple[float, float]], size: tuple[int, int] = (320, 256)) -> np.ndarray:
    """Points of the (W, H) texture in working-image pixels (aspect not kept)."""
    return np.array(list(points.values())) * np.array([SIDE / size[0], SIDE / size[1]])


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """Blurred colour noise: every place looks different, robust to the 7% crop rescaling."""
    noise = np.random.default_rng(seed).random((h, w, 3))
    noise = np.stack([ndimage.gaussian_filter(noise[..., c], 4) for c in range(3)], axis=-1)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return (noise * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    return _texture(256, 320, 1)  # non-square on purpose


@pytest.fixture(scope="module")
def matcher(tiny_model_dir) -> AttentionMatcher:
    """The fast preset with one context of 30 steps at lr 0.7 (see the identity test)."""
    return build(
        "tiny-random", "fast", "cpu", "auto", steps=30, lr=0.7, num_embeddings=1, inference_crops=8, batch_size=8
    )


@pytest.fixture(scope="module")
def reference(matcher, texture) -> ReferenceState:
    return matcher.prepare_reference(texture, POINTS)


@pytest.fixture(scope="module")
def small(tiny_model_dir) -> AttentionMatcher:
    """128 px working size: for bookkeeping tests that need no accuracy (contexts work at any size)."""
    return build(
        "tiny-random", "fast", "cpu", "auto", resolution=128, steps=2, num_embeddings=1, inference_crops=6, batch_size=8
    )


@pytest.fixture
def with_config(small, monkeypatch):
    def apply(**changes):
        monkeypatch.setattr(small, "config", dataclasses.replace(small.config, **changes))

    return apply


def test_reference_state_layout(matcher, reference):
    emb = reference.arrays["embeddings"]
    assert emb.shape == (3, 1, 77, 32) and emb.dtype == np.float32
    assert reference.method == "attention" and reference.names == tuple(POINTS)
    assert reference.image_size == (320, 256)
    assert reference.signature == matcher.reference_signature
    assert np.allclose(reference.points, list(POINTS.values()))


def test_identity_lands_near_the_query_points(matcher, reference, texture):
    """Reference == target, through the whole method: random crops, uniform noise, Adam, corner and
    argmax-following inference crops, pasting, averaging, soft-argmax. The issue asks for 1 px;
    this method cannot deliver that here, and the bounds are what it does deliver robustly:

    * Floor: a perfect context still reads out 0.9-1.3 px off on these points, up to ~5.7 px on
      others (test_a_perfect_context_reads_out_within_the_methods_resolution).
    * The tiny random model: its maps stay broad and weak after a test-sized optimisation (peak
      ~0.15 over a background of ~0.03, where the target peaks at 1), and their peak lands on
      one of a few places near the point (the grid nodes of the crops); which one depends on
      the random draws. Neither the diffusion noise nor longer runs remove that: without noise
      the errors are alike, and 129-180 steps at lr 0.3 still leave 2.9-7.0 px (3 seeds).
    * Measured with these settings (30 steps, lr 0.7, 8 crops), worse axis of the worst point
      per seed: 9.6 px for the seed used here (unchanged by the batch composition, i.e. by
      float rounding), 5.4-13.3 px over seeds 0-7; mean error per seed 2.3-6.1 px. 40-45 steps
      or two contexts (2x the time) do not shrink that tail (13.4 and 13.3 px at worst), lr 2
      diverges. Hence IDENTITY_MAX = 16 px (the worst seed + 2.7 px; half the coarsest cell)
      and IDENTITY_MEAN = 8 px. (With SD's 0.18215 left on the tiny VAE, where the image's
      spread was 0.6x the noise's at t = 140, these settings give 3.4-12.5 px over the same seeds:
      the tail comes from the random model's attention, not from the latent scale.)
    """
    (pred,) = matcher.predict([reference], [texture])
    assert pred.names == tuple(POINTS)
    err = np.abs(pred.xy - np.array(list(POINTS.values()))) * SIDE / np.array(texture.shape[1::-1])
    assert err.max() <= IDENTITY_MAX and err.mean() <= IDENTITY_MEAN, (pred.xy, err)
    assert np.all((pred.confidence > 0) & (pred.confidence <= 1))


def _ideal_readout(matcher, monkeypatch, points: np.ndarray) -> np.ndarray:
    """Predictions of the real crop pasting / averaging / soft-argmax for a perfect context: every
    crop's map of every layer is the training target (Gaussian of peak 1 at the point's place in
    the crop) sampled at that layer's grid nodes."""
    cfg = matcher.config
    side, crop = cfg.resolution, cfg.crop_px

    def latents(self, starts):  # the crop start travels inside the fake latent
        out = torch.zeros((len(starts), 4, side // 8, side // 8))
        for i, (x0, y0) in enumerate(starts):
            out[i, 0, 0, 0], out[i, 1, 0, 0] = x0, y0
        return out

    def maps(latents, contexts, timestep):
        out = []
        for layer in matcher.layers:
            n = side // 32 if layer.startswith("up_blocks.1.") else side // 16
            nodes = (torch.arange(n, dtype=torch.float64) + 0.5) * side / n
            batch = []
            for i in range(latents.shape[0]):
                start = (int(latents[i, 0, 0, 0]), int(latents[i, 1, 0, 0]))
                cx, cy = crops.to_crop(tuple(points[int(contexts[i, 0, 0])]), start, crop, side)
                d2 = (nodes[None, :] - cx) ** 2 + (nodes[:, None] - cy) ** 2
                batch.append(torch.exp(-d2 / (2 * cfg.sigma_px**2)).float())
            out.append(torch.stack(batch))
        return out

    monkeypatch.setattr(_LatentCache, "get", latents)
    monkeypatch.setattr(matcher, "_add_noise", lambda lat, noise, t: lat)
    monkeypatch.setattr(matcher, "_layer_maps", maps)
    emb = np.zeros((len(points), 1, 77, 32), np.float32)
    emb[:, 0, 0, 0] = np.arange(len(points))
    reference = _state([f"p{i}" for i in range(len(points))], emb)
    (pred,) = matcher.predict([reference], [np.zeros((side, side, 3), np.uint8)])
    return pred.xy


def test_a_perfect_context_reads_out_within_the_methods_resolution(matcher, monkeypatch):
    """The floor under the identity test's bound. Even maps that equal the training target at every
    grid node, on every crop, leave the fast readout (8 crops, 11 x 11 soft-argmax) pixels off: the
    maps are 8 x 8 and 16 x 16 grids seen through 93% crops, and their bilinear upsampling peaks on
    the grid nodes. Measured: on these 40 points (15-85% of the side) mean 0.9 px, max 2.9 px, no
    bias; on 200 points within 10-90% mean 1.2 px, max 5.7 px; on the identity test's points 0.9,
    1.0 and 1.3 px (worse axis). So 1 px is not on offer from this method at a 256 px working size,
    whatever the context. The crops are drawn per target image and keypoint, so which points land
    worst changes with the draws; a half-pixel shift anywhere in the readout shows as a bias of the
    mean signed error (measured without one: |bias| <= 0.25 px per axis on these 43 points)."""
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.uniform(0.15 * SIDE, 0.85 * SIDE, (40, 2)), _working(POINTS)])
    signed = _ideal_readout(matcher, monkeypatch, points) - points
    err = np.abs(signed)
    assert err[:40].mean() <= 1.2 and err[:40].max() <= 3.5, err[:40]
    assert err[40:].max() <= 3.5, err[40:]
    assert np.all(np.abs(signed.mean(axis=0)) <= 0.35), signed.mean(axis=0)


def test_optimisation_lowers_the_loss_and_raises_attention_at_the_point(matcher, reference, texture):
    """Evaluated on one fixed crop and noise draw: initial vs optimised contexts.

    (Where the peak lands on the source image is what the identity test checks, through the
    method's own crop averaging; a single noisy crop of the random model is too coarse for that.)"""
    cfg = matcher.config
    h, w = texture.shape[:2]
    cache = _LatentCache(matcher, matcher._working(texture))
    gen = _generator(123, "evaluation")
    noisy = matcher._add_noise(cache.get([(9, 9)]), torch.rand((1, 4, 32, 32), generator=gen), cfg.timestep_optimize)
    ys, xs = torch.meshgrid(torch.arange(SIDE) + 0.5, torch.arange(SIDE) + 0.5, indexing="ij")
    for k, (name, (x, y)) in enumerate(POINTS.items()):
        goal_xy = crops.to_crop((x * SIDE / w, y * SIDE / h), (9, 9), cfg.crop_px, SIDE)
        goal = attention._gaussians(torch.tensor([goal_xy], dtype=torch.float32), SIDE, cfg.sigma_px)
        near = (xs - goal_xy[0]) ** 2 + (ys - goal_xy[1]) ** 2 <= cfg.sigma_px**2
        init = torch.randn((1, 77, 32), generator=_generator(cfg.seed, "init", attention.image_key(texture), name, 0))
        losses, contrast = [], []
        for ctx in (init, torch.from_numpy(reference.arrays["embeddings"][k])):
            with torch.no_grad():
                maps = matcher._layer_maps(noisy, ctx, cfg.timestep_optimize)
            up = torch.cat([F.interpolate(m[:, None], size=(SIDE, SIDE), mode="bilinear") for m in maps], 1)
            losses.append(float(((up - goal[:, None]) ** 2).mean()))
            mean_map = up[0].mean(0)
            contrast.append(float(mean_map[near].mean() - mean_map[~near].mean()))
        assert losses[1] < 0.97 * losses[0], (name, losses)
        assert contrast[1] > contrast[0] + 0.01 and contrast[1] > 0, (name, contrast)
    assert all(b < a for a, b in zip(reference.meta["loss_first"], reference.meta["loss_last"], strict=True))


def test_batched_prediction_equals_one_at_a_time(small, reference, texture):
    targets = [texture, np.ascontiguousarray(texture[::-1]), _texture(150, 200, 7)]
    together = small.predict([reference], targets)
    for image, pred in zip(targets, together, strict=True):
        (alone,) = small.predict([reference], [image])
        assert alone.names == pred.names
        assert np.array_equal(alone.xy, pred.xy)
        assert np.array_equal(alone.confidence, pred.confidence)


def test_serialised_reference_predicts_identically(small, reference, texture):
    restored = ReferenceState.from_bytes(reference.to_bytes())
    assert restored.signature == reference.signature and restored.meta == reference.meta
    a = small.predict([reference], [texture])[0]
    b = small.predict([restored], [texture])[0]
    assert np.array_equal(a.xy, b.xy) and np.array_equal(a.confidence, b.confidence)


def _state(names, embeddings) -> ReferenceState:
    return ReferenceState(
        method="attention",
        signature="x",
        names=tuple(names),
        points=np.zeros((len(names), 2)),
        image_size=(10, 10),
        arrays={"embeddings": np.asarray(embeddings, np.float32)},
    )


def test_several_references_pool_their_contexts(small, reference, texture):
    emb = reference.arrays["embeddings"]
    second = _state(("top", "extra"), np.stack([emb[0], emb[1]]))  # other contexts under these names
    pooled = small.predict([reference, second], [texture])[0]
    assert pooled.names == ("left", "right", "top", "extra")
    # "top" now has the contexts of both references: exactly like one reference holding both.
    merged = small.predict([_state(("top",), np.concatenate([emb[2], emb[0]])[None])], [texture])[0]
    extra = small.predict([second.subset(["extra"])], [texture])[0]
    single = small.predict([reference], [texture])[0]
    # Equal up to float rounding (~1e-6 px, depends on thread count): the UNet batches are composed differently.
    np.testing.assert_allclose(pooled.xy[2], merged.xy[0], atol=1e-4)
    np.testing.assert_allclose(pooled.xy[3], extra.xy[0], atol=1e-4)
    np.testing.assert_allclose(pooled.xy[:2], single.xy[:2], atol=1e-4)


@pytest.mark.parametrize("size", [(157, 301), (300, 40), (128, 128)])
def test_predictions_map_back_exactly(small, with_config, monkeypatch, size):
    """A map peaked at working pixel (i, j) must give ((i + .5) W / R, (j + .5) H / R)."""
    with_config(refine="argmax")
    h, w = size
    hot = [(0, 0), (SMALL - 1, SMALL - 1), (17, 100)]

    def fake(members, pooled, names, cache, target_key, should_stop):
        maps = torch.zeros((len(members), len(small.layers), SMALL, SMALL))
        for row, (k, _e) in enumerate(members):
            i, j = hot[k]
            maps[row, :, j, i] = 1.0
        return maps

    monkeypatch.setattr(small, "_crop_average", fake)
    ref = _state(("a", "b", "c"), np.zeros((3, 1, 77, 32)))
    image = np.zeros((h, w, 3), np.uint8)
    (pred,) = small.predict([ref], [image])
    for k, (i, j) in enumerate(hot):
        assert pred.xy[k, 0] == pytest.approx((i + 0.5) * w / SMALL, rel=1e-12)
        assert pred.xy[k, 1] == pytest.approx((j + 0.5) * h / SMALL, rel=1e-12)
    with_config(refine="soft_argmax")
    (soft,) = small.predict([ref], [image])
    assert np.allclose(soft.xy, pred.xy, atol=1e-6)


def test_crop_maps_are_pasted_where_they_came_from(small, with_config, monkeypatch):
    """Fake UNet: each crop's map peaks at the cell that holds one fixed working-image point P.

    The crop start travels inside the fake latent; the pasted, averaged map must peak at P
    (within one cell), whatever the corner and argmax-following crops were."""
    with_config(inference_crops=8)
    cfg = small.config
    crop = cfg.crop_px
    target = (37.0, 91.0)

    def latents(self, starts):
        out = torch.zeros((len(starts), 4, SMALL // 8, SMALL // 8))
        for i, (x0, y0) in enumerate(starts):
            out[i, 0, 0, 0], out[i, 1, 0, 0] = x0, y0
        return out

    def maps(latents, contexts, timestep):
        out = []
        for n in (SMALL // 32, SMALL // 16):  # the 8x8-at-256 and 16x16-at-256 layers
            m = torch.zeros((latents.shape[0], n, n))
            for i in range(latents.shape[0]):
                x0, y0 = float(latents[i, 0, 0, 0]), float(latents[i, 1, 0, 0])
                cx, cy = crops.to_crop(target, (int(x0), int(y0)), crop, SMALL)
                m[i, min(int(cy * n / SMALL), n - 1), min(int(cx * n / SMALL), n - 1)] = 1.0
            out.extend([m, m, m] if n == SMALL // 32 else [m])
        return out

    monkeypatch.setattr(_LatentCache, "get", latents)
    monkeypatch.setattr(small, "_add_noise", lambda lat, noise, t: lat)
    monkeypatch.setattr(small, "_layer_maps", maps)
    ref = _state(("p", "q"), np.zeros((2, 3, 77, 32)))
    image = np.zeros((SMALL, SMALL, 3), np.uint8)
    (pred,) = small.predict([ref], [image])
    assert np.all(np.abs(pred.xy - np.array(target)) <= SMALL / 16), pred.xy


def test_reference_points_at_borders_and_crop_rule(small, with_config, monkeypatch):
    with_config(steps=2, num_embeddings=2)
    seen = []
    original = attention._gaussians

    def record(points, side, sigma, grid):
        seen.append(points.cpu().numpy().copy())
        return original(points, side, sigma, grid)

    monkeypatch.setattr(attention, "_gaussians", record)
    image = _texture(90, 170, 3)
    state = small.prepare_reference(image, {"corner": (0.0, 0.0), "far": (170.0, 90.0), "mid": (85.0, 45.0)})
    assert state.arrays["embeddings"].shape == (3, 2, 77, 32)
    assert len(seen) == 2
    crop = small.config.crop_px
    margin = small.config.crop_margin * crop
    for step in seen:  # rows: corner e0, corner e1, far e0, far e1, mid e0, mid e1
        assert np.allclose(step[:2], 0.0)  # a point on the image corner sits on the crop corner
        assert np.allclose(step[2:4], SMALL, atol=1e-4)
        mid = step[4:] * crop / SMALL  # back to crop pixels
        assert np.all(mid >= margin - 1e-6) and np.all(mid <= crop - margin + 1e-6)
    assert not (np.allclose(seen[0][4], seen[0][5]) and np.allclose(seen[1][4], seen[1][5]))


def test_paper_rules_reach_the_crops_the_target_and_the_softmax(small, with_config, monkeypatch):
    """The preset's margin rule drives every crop (optimisation and inference), its grid the
    Gaussian target, its softmax dtype the final map."""
    rules, grids, dtypes = [], [], []
    start, gauss, softmax = crops.random_start, attention._gaussians, torch.softmax

    def record_start(p, crop, margin, side, u, rule="inward"):
        rules.append(rule)
        return start(p, crop, margin, side, u, rule)

    def record_gauss(points, side, sigma, grid="centre"):
        grids.append(grid)
        return gauss(points, side, sigma, grid)

    def record_softmax(x, dim):
        if x.shape[-1] == SMALL * SMALL:  # the final softmax over the image (not the attention's)
            dtypes.append(x.dtype)
        return softmax(x, dim=dim)

    monkeypatch.setattr(crops, "random_start", record_start)
    monkeypatch.setattr(attention, "_gaussians", record_gauss)
    monkeypatch.setattr(attention.torch, "softmax", record_softmax)
    image = _texture(SMALL, SMALL, 5)
    for rule, grid, dtype in (("truncate", "index", "float32"), ("inward", "centre", "float64")):
        rules.clear(), grids.clear(), dtypes.clear()
        with_config(steps=2, inference_crops=6, margin_rule=rule, target_grid=grid, softmax_dtype=dtype)
        ref = small.prepare_reference(image, {"a": (40.0, 90.0)})
        small.predict([ref], [image])
        assert rules and set(rules) == {rule} and grids and set(grids) == {grid}
        assert dtypes == [getattr(torch, dtype)]


def test_gaussian_target_grids():
    """``index``: the authors' gaussian_circle, pixel i evaluated at i; ``centre``: at i + 0.5."""
    point = torch.tensor([[10.0, 20.0]])
    sigma = 3.0
    i = torch.arange(32, dtype=torch.float32)
    for grid, offset in (("index", 0.0), ("centre", 0.5)):
        g = attention._gaussians(point, 32, sigma, grid)[0]
        # the authors' formula: exp(-((x - px)^2 + (y - py)^2) / (2 sigma^2)) on grid (y, x)
        yy, xx = torch.meshgrid(i + offset, i + offset, indexing="ij")
        expected = torch.exp(-((xx - 10.0) ** 2 + (yy - 20.0) ** 2) / (2 * sigma**2))
        torch.testing.assert_close(g, expected, rtol=1e-6, atol=1e-7)
    peak = attention._gaussians(point, 32, sigma, "index")[0]
    assert peak[20, 10] == 1.0  # the point (10, 20) is the centre of pixel (10, 20) on the authors' grid


def test_paper_precision_is_float32_on_every_device(tiny_model_dir):
    """``paper`` asks every device for fp32 (CUDA included); ``fast`` the device default; an explicit
    dtype wins; the matcher's signature records the dtype it runs in."""
    from labeler.correspondence.attention_config import FAST, PAPER

    assert attention.model_dtype_request(PAPER, "auto") == "float32"
    assert attention.model_dtype_request(FAST, "auto") == "auto"
    assert attention.model_dtype_request(PAPER, "bfloat16") == "bfloat16"
    assert attention.model_dtype_request(FAST, "float16") == "float16"
    m = build("tiny-random", "paper", "cpu", "auto", steps=1)
    assert m._requested_dtype == "float32" and m._dtype == torch.float32
    comps = m.components
    direct = AttentionMatcher(comps, m.config, device=torch.device("cpu"), dtype=torch.float32)
    assert direct._requested_dtype == "float32"  # .to("cuda") would keep fp32
    bf16 = AttentionMatcher(comps, m.config, device=torch.device("cpu"), dtype=torch.bfloat16, requested_dtype="bfloat16")
    assert bf16.signature != m.signature and bf16.reference_signature == m.reference_signature
    fast = AttentionMatcher(comps, dataclasses.replace(m.config, precision="device"), device=torch.device("cpu"),
                            dtype=torch.float32)
    assert fast._requested_dtype == "auto" and fast.reference_signature != m.reference_signature


def test_progress_and_cancellation(small, with_config, texture):
    with_config(steps=3)
    calls = []
    small.prepare_reference(texture, {"p": (10.0, 10.0)}, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    polls = []

    def stop_on_second():
        polls.append(1)
        return len(polls) >= 2

    with pytest.raises(Cancelled):
        small.prepare_reference(texture, {"p": (10.0, 10.0)}, should_stop=stop_on_second)
    assert len(polls) == 2
    with pytest.raises(Cancelled):
        small.predict([_state(("a",), np.zeros((1, 1, 77, 32)))], [texture], should_stop=lambda: True)


def test_seeded_and_independent_of_batching(small, with_config, texture):
    with_config(steps=2, batch_size=8)
    pts = {"a": (40.0, 50.0), "b": (200.0, 100.0)}
    first = small.prepare_reference(texture, pts).arrays["embeddings"]
    assert np.array_equal(small.prepare_reference(texture, pts).arrays["embeddings"], first)
    # Other batch compositions: the same draws, equal up to float rounding (Adam amplifies it a little).
    with_config(steps=2, batch_size=1)
    np.testing.assert_allclose(small.prepare_reference(texture, pts).arrays["embeddings"], first, atol=1e-4)
    only_b = small.prepare_reference(texture, {"b": pts["b"]}).arrays["embeddings"]
    np.testing.assert_allclose(only_b[0], first[1], atol=1e-4)
    with_config(steps=2, seed=1)
    assert not np.allclose(small.prepare_reference(texture, pts).arrays["embeddings"], first, atol=1e-2)


def test_draws_are_keyed_by_image_content_and_keypoint(small, with_config, texture, monkeypatch):
    """Inference: per (target image, keypoint); contexts: per reference image, so pooled references
    give independent contexts and no two targets share noise."""
    shape = small.latent_shape()
    other = _texture(256, 320, 2)
    key_a, key_b = attention.image_key(texture), attention.image_key(other)
    assert key_a == attention.image_key(texture.copy()) and key_a != key_b
    draw = lambda key, name, slot=0, j=0: small._draw({}, key, name, slot, j, shape)  # noqa: E731
    base = draw(key_a, "a")
    assert base[0] == draw(key_a, "a")[0] and torch.equal(base[1], draw(key_a, "a")[1])
    for changed in (draw(key_b, "a"), draw(key_a, "b"), draw(key_a, "a", slot=1), draw(key_a, "a", j=1)):
        assert not torch.equal(changed[1], base[1])
    with_config(steps=1, batch_size=8)
    keys = []
    real = attention._generator
    monkeypatch.setattr(attention, "_generator", lambda seed, *k: keys.append(k) or real(seed, *k))
    pts = {"a": (40.0, 50.0)}
    ref_a, ref_b = small.prepare_reference(texture, pts), small.prepare_reference(other, pts)
    assert ("init", key_a, "a", 0) in keys and ("init", key_b, "a", 0) in keys
    assert ("step", key_a, "a", 0, 0) in keys and ("step", key_b, "a", 0, 0) in keys
    # The same keypoint on two reference images: independent initial contexts.
    init = [real(small.config.seed, "init", key, "a", 0) for key in (key_a, key_b)]
    assert not torch.equal(torch.randn(8, generator=init[0]), torch.randn(8, generator=init[1]))
    keys.clear()
    small.predict([ref_a, ref_b], [other])
    infer = {k for k in keys if k[0] == "infer"}
    assert infer and all(k[1] == key_b and k[2] == "a" for k in infer)
    assert {k[3] for k in infer} == {0, 1}  # one context slot per pooled reference


def test_out_of_memory_becomes_device_out_of_memory(small, texture, monkeypatch):
    def boom(*_a, **_k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(small, "_layer_maps", boom)
    with pytest.raises(DeviceOutOfMemory, match="batch"):
        small.predict([_state(("a",), np.zeros((1, 1, 77, 32)))], [texture])
    with pytest.raises(DeviceOutOfMemory):
        small.prepare_reference(texture, {"p": (5.0, 5.0)})


def test_bad_input_gives_clear_errors(small, texture):
    ref = _state(("a",), np.zeros((1, 1, 77, 32)))
    with pytest.raises(UserInputError, match="outside"):
        small.prepare_reference(texture, {"p": (321.0, 5.0)})
    with pytest.raises(UserInputError, match="no keypoints"):
        small.prepare_reference(texture, {})
    with pytest.raises(UserInputError, match="not an"):
        small.prepare_reference(texture, {"p": "here"})
    with pytest.raises(UserInputError, match="uint8"):
        small.predict([ref], [texture.astype(np.float32)])
    with pytest.raises(UserInputError, match="dift"):
        small.predict([dataclasses.replace(ref, method="dift")], [texture])
    with pytest.raises(UserInputError, match="768"):
        small.predict([_state(("a",), np.zeros((1, 1, 77, 768)))], [texture])
    assert small.predict([], [texture])[0].names == ()


def test_confidence_scale():
    m = object.__new__(AttentionMatcher)
    m.config = attention.PRESETS["paper"]
    centre = torch.tensor([[32.0, 32.0]], dtype=torch.float64)
    flat = torch.full((1, 64, 64), 1.0 / 64**2, dtype=torch.float64)
    assert m._confidence(flat, centre) == pytest.approx(0.0, abs=1e-9)
    # Attention 1 inside the radius and 0 outside, soft-maxed: the most peaked map the method makes.
    ys, xs = torch.meshgrid(torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing="ij")
    disc = (((xs - 32) ** 2 + (ys - 32) ** 2) <= (0.1 * 64) ** 2).double()
    ideal = torch.softmax(disc.reshape(-1), 0).reshape(1, 64, 64)
    assert m._confidence(ideal, centre) == pytest.approx(1.0)
    half = torch.softmax(0.5 * disc.reshape(-1), 0).reshape(1, 64, 64)
    assert m._confidence(half, centre) == pytest.approx((np.exp(0.5) - 1) / (np.e - 1), abs=0.02)


def test_signature_tracks_prediction_settings(small, with_config):
    base, ref_base = small.signature, small.reference_signature
    with_config(batch_size=3)
    assert small.signature == base
    with_config(inference_crops=7)
    assert small.signature != base and small.reference_signature == ref_base
    with_config(steps=7)
    assert small.signature != base and small.reference_signature != ref_base


def test_registry_builds_the_engine_with_card_settings(tiny_model_dir):
    assert attention.DEFAULT_MODEL == "sd-1-4"
    m = create_matcher("attention", model="tiny-random", preset="paper", device="cpu", steps=1)
    assert isinstance(m, AttentionMatcher)
    assert m.config.resolution == 256 and m.config.num_embeddings == 5 and m.config.steps == 1
    assert m.device == "cpu" and m.stop_layer == "up_blocks.2.attentions.0"
    m.to("cpu")
    assert m.device == "cpu"
    m.close()
    with pytest.raises(RuntimeError):
        m.predict([], [])
    with pytest.raises(UserInputError, match="unknown setting"):
        create_matcher("attention", model="tiny-random", device="cpu", nonsense=1)


def test_half_precision_weights_give_the_same_points(small, texture):
    """The GPU path (bf16 weights, maps and loss in float32) on the CPU: same contexts and points."""
    from labeler.correspondence.loading import load_sd

    cfg = dataclasses.replace(small.config, inference_crops=4)
    comps = load_sd("tiny-random", dtype=torch.bfloat16, parts=("unet", "vae", "scheduler"))
    half = AttentionMatcher(comps, cfg, device=torch.device("cpu"), dtype=torch.bfloat16)
    small_cfg = small.config
    try:
        small.config = cfg
        points = {"a": (60.0, 70.0)}
        ref32, ref16 = small.prepare_reference(texture, points), half.prepare_reference(texture, points)
        np.testing.assert_allclose(ref16.arrays["embeddings"], ref32.arrays["embeddings"], atol=0.02)
        p32, p16 = small.predict([ref32], [texture])[0], half.predict([ref16], [texture])[0]
    finally:
        small.config = small_cfg
    np.testing.assert_allclose(p16.xy, p32.xy, atol=1.0)
