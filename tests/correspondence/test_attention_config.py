"""Attention-engine settings and crop geometry (no model needed)."""

from __future__ import annotations

import dataclasses
import random

import pytest

from labeler.correspondence import crops
from labeler.correspondence.attention_config import (
    FAST,
    FAST_DIFFERENCES,
    PAPER,
    PAPER_DEVIATIONS,
    PRESETS,
    card_overrides,
    config_dict,
    stable_hash,
    with_overrides,
)
from labeler.correspondence.cards import find_card
from labeler.errors import UserInputError


def test_paper_preset_holds_the_authors_parameters():
    assert PAPER.resolution == 512
    assert PAPER.layers == (
        "up_blocks.1.attentions.0",
        "up_blocks.1.attentions.1",
        "up_blocks.1.attentions.2",
        "up_blocks.2.attentions.0",
    )
    assert PAPER.heads == (4, 5, 6, 7) and PAPER.token == 1
    assert (PAPER.timestep_optimize, PAPER.timestep_infer) == (140, 40)
    assert PAPER.num_embeddings == 5 and PAPER.steps == 129 and PAPER.inference_crops == 20
    assert PAPER.lr == 0.0023755632081200314
    assert PAPER.sigma_px == pytest.approx(27.97853316316864)
    assert PAPER.crop_px == 477 and PAPER.crop_margin == 0.15
    assert PAPER.noise == "uniform" and PAPER.refine == "argmax"
    # The authors' integer crop rule, Gaussian grid (pixel i at i), fp32 model and fp32 final softmax.
    assert PAPER.margin_rule == "truncate" and PAPER.target_grid == "index"
    assert PAPER.precision == "float32" and PAPER.softmax_dtype == "float32"
    # What is left is the seeded randomness only.
    assert set(PAPER_DEVIATIONS) == {"randomness"}


def test_fast_differs_from_paper_only_where_documented():
    differing = {
        f.name for f in dataclasses.fields(PAPER) if getattr(PAPER, f.name) != getattr(FAST, f.name)
    }
    assert differing == set(FAST_DIFFERENCES)
    assert FAST.num_embeddings == 2 and FAST.inference_crops == 8 and FAST.steps == 129
    assert (FAST.refine, FAST.soft_window, FAST.soft_temperature) == ("soft_argmax", 11, 0.02)
    assert (FAST.margin_rule, FAST.target_grid, FAST.precision, FAST.softmax_dtype) == (
        "inward", "centre", "device", "float64"
    )
    assert set(PRESETS) == {"paper", "fast"}


def test_model_cards_override_the_defaults():
    tiny = find_card("tiny-random")
    cfg = with_overrides(PAPER, card_overrides(tiny.resolution, tiny.method_settings("attention")))
    assert cfg.resolution == 256 and cfg.heads == (4, 5, 6, 7)
    sd2 = find_card("sd-2-1")
    cfg = with_overrides(FAST, card_overrides(sd2.resolution, sd2.method_settings("attention")))
    assert cfg.resolution == 768 and cfg.heads == "upper-half"
    assert cfg.num_embeddings == FAST.num_embeddings


def test_overrides_are_checked():
    assert with_overrides(PAPER, {"steps": 3, "heads": [0, 1]}).heads == (0, 1)
    with pytest.raises(UserInputError, match="unknown setting"):
        with_overrides(PAPER, {"stepz": 3})
    for bad in ({"steps": 0}, {"token": 77}, {"resolution": 500}, {"noise": "pink"}, {"heads": "lower"},
                {"crop_fraction": 1.5}, {"soft_window": 4}, {"refine": "mean"}, {"confidence_radius": 0},
                {"margin_rule": "round"}, {"target_grid": "corner"}, {"precision": "bfloat16"},
                {"softmax_dtype": "float16"}):
        with pytest.raises(UserInputError):
            with_overrides(PAPER, bad)


def test_signature_payload_ignores_batch_size_only():
    base = stable_hash(config_dict(PAPER))
    assert stable_hash(config_dict(dataclasses.replace(PAPER, batch_size=1))) == base
    assert stable_hash(config_dict(dataclasses.replace(PAPER, inference_crops=19))) != base
    assert stable_hash(config_dict(dataclasses.replace(PAPER, noise="gaussian"))) != base
    for change in ({"margin_rule": "inward"}, {"target_grid": "centre"}, {"precision": "device"},
                   {"softmax_dtype": "float64"}):
        assert stable_hash(config_dict(dataclasses.replace(PAPER, **change))) != base, change


def _authors_start_range(x, side, crop_percent, margin=0.15):
    """Hedlin et al.'s crop_image (ubc-vision/LDM_correspondences, utils/optimize_token.py), written
    out: the integer start range its torch.randint(lo, hi + 1) draws from, for one axis."""
    width = side
    crop_width = int(width * crop_percent / 100)
    safe_margin_x = int(crop_width * margin)
    x_start_min = max(0, x - crop_width + safe_margin_x)
    x_start_min = min(x_start_min, width - crop_width)
    x_start_max = max(0, x - safe_margin_x)
    x_start_max = min(x_start_max, width - crop_width)
    return int(x_start_min), int(x_start_max)


@pytest.mark.parametrize(
    "side,fraction,margin",
    [(512, PAPER.crop_fraction, 0.15), (768, PAPER.crop_fraction, 0.15), (256, PAPER.crop_fraction, 0.15),
     (128, PAPER.crop_fraction, 0.15), (384, 0.6, 0.15), (512, 0.75, 0.3), (512, 1.0, 0.15), (256, 0.8, 0.0)],
)
def test_truncate_rule_is_the_authors_crop_range_everywhere(side, fraction, margin):
    """Every position of the grid (pixel indices, as the optimisation's points can be, and pixel
    centres i + 0.5, as the inference's running argmax is), plus quarter pixels and random reals:
    the engine's range is the authors' range exactly."""
    cfg = dataclasses.replace(PAPER, resolution=side, crop_fraction=fraction, crop_margin=margin)
    crop = cfg.crop_px
    assert crop == int(side * (fraction * 100) / 100)  # the authors' crop side
    rng = random.Random(side)
    positions = [i / 4 for i in range(4 * side + 1)] + [rng.uniform(0, side) for _ in range(500)]
    for p in positions:
        ours = crops.start_range(p, crop, cfg.crop_margin * crop, side, cfg.margin_rule)
        assert ours == _authors_start_range(p, side, fraction * 100, margin), p


def test_the_two_rules_differ_where_documented():
    """At 512 px the inward rule moves range ends for 71 of the 512 pixel centres, by up to 2 px."""
    differing, largest = [], 0
    for i in range(512):
        a = crops.start_range(i + 0.5, 477, 0.15 * 477, 512, "inward")
        b = crops.start_range(i + 0.5, 477, 0.15 * 477, 512, "truncate")
        if a != b:
            differing.append(i)
            largest = max(largest, abs(a[0] - b[0]), abs(a[1] - b[1]))
    assert differing == [*range(72, 107), *range(405, 441)] and largest == 2
    assert "72-106 and 405-440" in FAST_DIFFERENCES["margin_rule"]
    with pytest.raises(ValueError, match="unknown crop-margin rule"):
        crops.start_range(10.0, 477, 71.55, 512, "round")


@pytest.mark.parametrize("side,fraction", [(512, PAPER.crop_fraction), (256, PAPER.crop_fraction), (256, 0.6)])
def test_random_crops_keep_the_point_away_from_the_border(side, fraction):
    crop = int(side * fraction)
    margin = 0.15 * crop
    rng = random.Random(0)
    for _ in range(2000):
        p = (rng.uniform(0, side), rng.uniform(0, side))
        x0, y0 = crops.random_start(p, crop, margin, side, (rng.random(), rng.random()), "inward")
        assert 0 <= x0 <= side - crop and 0 <= y0 <= side - crop
        for v, s in ((p[0], x0), (p[1], y0)):
            assert s <= v <= s + crop  # the point is always inside its crop
            # The rule holds wherever the image leaves room for it; elsewhere the crop is pushed to the edge.
            if margin <= v <= side - margin:
                assert s + margin <= v + 1e-9 and v <= s + crop - margin + 1e-9
            elif v < margin:
                assert s == 0
            else:
                assert s == side - crop


def test_crop_start_draws_cover_the_whole_range():
    lo, hi = crops.start_range(256.0, 477, 0.15 * 477, 512)
    assert (lo, hi) == (0, 35)
    picks = {crops.pick(lo, hi, u / 1000) for u in range(1000)}
    assert picks == set(range(0, 36))
    assert crops.pick(3, 3, 0.999) == 3


def test_corners_and_crop_coordinates():
    assert crops.corner_starts(477, 512) == [(0, 0), (0, 35), (35, 0), (35, 35)]
    # A point maps into the resized crop and back exactly (continuous pixels).
    p = (100.25, 300.5)
    q = crops.to_crop(p, (20, 35), 477, 512)
    assert q == pytest.approx(((100.25 - 20) * 512 / 477, (300.5 - 35) * 512 / 477))
    back = (q[0] * 477 / 512 + 20, q[1] * 477 / 512 + 35)
    assert back == pytest.approx(p)
