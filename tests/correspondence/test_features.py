"""The shared dense matching: fast upsampled cosine == the straightforward one, sampling, locating."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labeler.correspondence import features
from labeler.correspondence.config import MatchSettings
from labeler.correspondence.features import (
    locate,
    match_grid,
    sample_descriptors,
    upsampled_cosine,
    upsampled_norms,
)


def naive_cosine(desc, fmap, out_hw, align_corners=False):
    up = F.interpolate(fmap[None], size=out_hw, mode="bilinear", align_corners=align_corners)[0]
    return F.cosine_similarity(up[None], desc[:, :, None, None], dim=1)


SHAPES = [  # (h, w) -> (H, W): up, down, equal, mixed, single row
    ((6, 9), (37, 50)),
    ((16, 16), (256, 256)),
    ((12, 8), (12, 8)),
    ((8, 6), (3, 20)),
    ((1, 5), (7, 9)),
    ((48, 48), (300, 451)),
]


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize(("low", "high"), SHAPES)
def test_fast_upsampled_cosine_equals_upsample_then_cosine(low, high, align_corners):
    gen = torch.Generator().manual_seed(hash((low, high)) % 1000)
    fmap = torch.randn(64, *low, generator=gen) + 0.5
    desc = torch.randn(7, 64, generator=gen)
    fast = upsampled_cosine(desc, fmap, high, align_corners=align_corners)
    slow = naive_cosine(desc, fmap, high, align_corners)
    assert fast.shape == (7, *high)
    torch.testing.assert_close(fast, slow, atol=2e-6, rtol=0)


def test_norms_equal_norm_of_upsampled_features():
    fmap = torch.randn(32, 5, 7).abs()
    up = F.interpolate(fmap[None], size=(23, 31), mode="bilinear", align_corners=False)[0]
    torch.testing.assert_close(upsampled_norms(fmap, (23, 31)), up.norm(dim=0), atol=1e-5, rtol=1e-5)


def test_sampled_descriptor_equals_upsample_then_index():
    fmap = torch.randn(16, 6, 9)
    width, height = 50, 37
    up = F.interpolate(fmap[None], size=(height, width), mode="bilinear", align_corners=False)[0]
    cols = np.array([0, 3, 17, 49, 25])
    rows = np.array([0, 36, 5, 36, 18])
    xy = np.stack([cols + 0.5, rows + 0.5], axis=1)  # pixel centres
    got = sample_descriptors(fmap, xy, (width, height))
    torch.testing.assert_close(got, up[:, rows, cols].T, atol=1e-6, rtol=0)
    # Beyond the outermost cell centres the map is clamped, like F.interpolate.
    edge = sample_descriptors(fmap, np.array([[0.0, 0.0], [50.0, 37.0]]), (width, height))
    torch.testing.assert_close(edge, torch.stack([fmap[:, 0, 0], fmap[:, -1, -1]]), atol=1e-6, rtol=0)


def test_sampled_descriptor_is_independent_of_the_upsampled_size():
    # Continuous sampling equals indexing a map upsampled to twice the image size at the same point.
    fmap = torch.randn(8, 4, 6)
    up2 = F.interpolate(fmap[None], size=(40, 60), mode="bilinear", align_corners=False)[0]
    got = sample_descriptors(fmap, np.array([[7.25, 3.75]]), (30, 20))  # = cell (col 14, row 7) of up2
    torch.testing.assert_close(got[0], up2[:, 7, 14], atol=1e-6, rtol=0)


def test_views_are_sampled_together():
    maps = torch.randn(3, 8, 5, 5)
    got = sample_descriptors(maps, np.array([[1.0, 2.0], [3.0, 4.0]]), (5, 5))
    assert got.shape == (2, 3, 8)
    torch.testing.assert_close(got[:, 1], sample_descriptors(maps[1], np.array([[1.0, 2.0], [3.0, 4.0]]), (5, 5)))


def test_match_grid_keeps_aspect_or_original():
    assert match_grid((451, 300), None) == (451, 300)
    assert match_grid((451, 300), 768) == (768, 511)
    assert match_grid((300, 451), 768) == (511, 768)
    assert match_grid((10, 1000), 64) == (1, 64)


def _one_hot_map(h, w):
    """Orthogonal features: cell (row j, col i) is the unit vector e_(j*w+i)."""
    return torch.eye(h * w).reshape(h * w, h, w)


ARGMAX = MatchSettings(match_side=None, refine="argmax", margin_radius=0.05)


def _locate(fmap, desc, size, settings, view_owner=None, ref_owner=None, n=None):
    m = desc.shape[0]
    view_owner = torch.arange(m) if view_owner is None else view_owner
    ref_owner = torch.arange(m) if ref_owner is None else ref_owner
    return locate(fmap, F.normalize(desc, dim=1), view_owner, ref_owner, n or m, size, settings)


@pytest.mark.parametrize("side", [None, 64])
def test_locate_maps_grid_cells_back_to_original_pixels(side):
    # Descriptor = the feature of cell (col 3, row 1) of a 4x8 map covering a 200x90 image: the
    # cosine peaks exactly at that cell's centre, ((3.5 * 200/8), (1.5 * 90/4)) in original pixels.
    fmap = _one_hot_map(4, 8)
    desc = fmap[:, 1, 3][None]
    settings = MatchSettings(match_side=side, refine="argmax")
    xy, conf = _locate(fmap, desc, (200, 90), settings)
    gw, gh = match_grid((200, 90), side)
    # Argmax lands on the grid pixel nearest to the cell centre: error <= half a grid pixel.
    assert abs(xy[0, 0] - 87.5) <= 0.5 * 200 / gw + 1e-9
    assert abs(xy[0, 1] - 33.75) <= 0.5 * 90 / gh + 1e-9
    assert conf[0] > 0.5


def test_soft_argmax_refines_between_grid_pixels():
    # 4x4 cells of 10x11 px on a 40x44 image. The descriptor mixes cells (col 1, row 1) and
    # (col 2, row 1) equally, so the similarity peaks halfway between their centres: x = 20 (a
    # border between two pixels, which argmax cannot express), y = 16.5 (a pixel centre).
    fmap = _one_hot_map(4, 4)
    desc = (fmap[:, 1, 1] + fmap[:, 1, 2])[None]
    xy_arg, _ = _locate(fmap, desc, (40, 44), ARGMAX)
    assert abs(xy_arg[0, 0] - 20.0) == pytest.approx(0.5)
    soft = MatchSettings(match_side=None, refine="soft_argmax", soft_window=5, soft_temperature=0.02)
    xy, _ = _locate(fmap, desc, (40, 44), soft)
    assert abs(xy[0, 0] - 20.0) < 0.1
    assert xy[0, 1] == pytest.approx(16.5, abs=1e-4)


def test_combine_max_takes_the_best_reference_and_mean_the_consensus():
    # 5x5 cells of 11 px: cell (col i, row j) has its centre on pixel (11i + 5, 11j + 5).
    fmap = _one_hot_map(5, 5)
    a, b = fmap[:, 1, 1], fmap[:, 3, 3]
    # One keypoint, three references: one matches a perfectly, two match b almost perfectly.
    desc = torch.stack([a, b + 0.2 * a, b + 0.2 * a])
    common = dict(view_owner=torch.tensor([0, 1, 2]), ref_owner=torch.tensor([0, 0, 0]), n=1)
    best, _ = _locate(fmap, desc, (55, 55), MatchSettings(match_side=None, refine="argmax", combine="max"), **common)
    np.testing.assert_allclose(best[0], [16.5, 16.5])
    mean, _ = _locate(fmap, desc, (55, 55), MatchSettings(match_side=None, refine="argmax", combine="mean"), **common)
    np.testing.assert_allclose(mean[0], [38.5, 38.5])


def test_views_of_one_reference_are_combined_by_max_before_references():
    fmap = _one_hot_map(5, 5)
    a, b = fmap[:, 1, 1], fmap[:, 3, 3]
    # Reference 0 has two views (a, b), reference 1 one view (b). Mean over references of each
    # reference's best view: at b (1 + 1)/2, at a (1 + 0)/2. (Mean over all rows would tie.)
    desc = torch.stack([a, b, b])
    xy, _ = _locate(
        fmap, desc, (55, 55), MatchSettings(match_side=None, refine="argmax", combine="mean"),
        view_owner=torch.tensor([0, 0, 1]), ref_owner=torch.tensor([0, 0]), n=1,
    )
    np.testing.assert_allclose(xy[0], [38.5, 38.5])


def test_confidence_is_low_for_an_ambiguous_match():
    fmap = _one_hot_map(5, 5)
    twin = fmap.clone()
    twin[:, 3, 3] = twin[:, 1, 1]  # the same feature at two far-apart cells
    desc = fmap[:, 1, 1][None]
    _, conf_unique = _locate(fmap, desc, (55, 55), ARGMAX)
    _, conf_twin = _locate(twin, desc, (55, 55), ARGMAX)
    assert conf_unique[0] > 0.9
    assert conf_twin[0] < 0.05


def test_chunked_locate_equals_one_pass(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    fmap = torch.randn(32, 6, 8, generator=gen)
    desc = torch.randn(9, 32, generator=gen)
    settings = MatchSettings(match_side=80)
    whole = _locate(fmap, desc, (160, 120), settings)
    monkeypatch.setattr(features, "MAX_MAP_ELEMENTS", 80 * 60 * 2)  # two keypoints per chunk
    chunked = _locate(fmap, desc, (160, 120), settings)
    # Same maths; only float summation order differs between matrix-product shapes.
    np.testing.assert_allclose(whole[0], chunked[0], atol=1e-4, rtol=0)
    np.testing.assert_allclose(whole[1], chunked[1], atol=1e-5, rtol=0)
