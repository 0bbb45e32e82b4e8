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


def test_fast_differs_from_paper_only_where_documented():
    differing = {
        f.name for f in dataclasses.fields(PAPER) if getattr(PAPER, f.name) != getattr(FAST, f.name)
    }
    assert differing == set(FAST_DIFFERENCES)
    assert FAST.num_embeddings == 2 and FAST.inference_crops == 8 and FAST.steps == 129
    assert (FAST.refine, FAST.soft_window, FAST.soft_temperature) == ("soft_argmax", 11, 0.02)
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
                {"crop_fraction": 1.5}, {"soft_window": 4}, {"refine": "mean"}, {"confidence_radius": 0}):
        with pytest.raises(UserInputError):
            with_overrides(PAPER, bad)


def test_signature_payload_ignores_batch_size_only():
    base = stable_hash(config_dict(PAPER))
    assert stable_hash(config_dict(dataclasses.replace(PAPER, batch_size=1))) == base
    assert stable_hash(config_dict(dataclasses.replace(PAPER, inference_crops=19))) != base
    assert stable_hash(config_dict(dataclasses.replace(PAPER, noise="gaussian"))) != base


@pytest.mark.parametrize("side,fraction", [(512, PAPER.crop_fraction), (256, PAPER.crop_fraction), (256, 0.6)])
def test_random_crops_keep_the_point_away_from_the_border(side, fraction):
    crop = int(side * fraction)
    margin = 0.15 * crop
    rng = random.Random(0)
    for _ in range(2000):
        p = (rng.uniform(0, side), rng.uniform(0, side))
        x0, y0 = crops.random_start(p, crop, margin, side, (rng.random(), rng.random()))
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
