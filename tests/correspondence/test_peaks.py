"""Peak finding and confidence on hand-made score maps."""

from __future__ import annotations

import pytest
import torch

from labeler.correspondence.peaks import argmax_2d, mass_near_peak, relative_margin, window_soft_argmax


def gaussian(h, w, cx, cy, sigma=2.0):
    ys = torch.arange(h, dtype=torch.float64)[:, None] + 0.5
    xs = torch.arange(w, dtype=torch.float64)[None, :] + 0.5
    return torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2))


def test_argmax_returns_cell_centres_as_x_y():
    maps = torch.zeros(2, 5, 7)
    maps[0, 1, 4] = 1  # row 1, col 4
    maps[1, 4, 0] = 1
    assert argmax_2d(maps).tolist() == [[4.5, 1.5], [0.5, 4.5]]


def test_soft_argmax_finds_a_subcell_peak():
    # Peak between cells at (10.0, 7.25): argmax can only say (9.5 or 10.5, 7.5). Broad enough
    # that neighbouring cells differ by less than the temperature, as similarity maps do.
    m = gaussian(16, 20, 10.0, 7.25, sigma=8.0)[None]
    xy = window_soft_argmax(m, window=11, temperature=0.02)
    assert xy[0].tolist() == pytest.approx([10.0, 7.25], abs=0.02)


def test_soft_argmax_of_a_single_hot_cell_is_its_centre_even_at_the_border():
    m = torch.zeros(1, 6, 6)
    m[0, 0, 5] = 1.0
    xy = window_soft_argmax(m, window=5, temperature=0.02)
    assert xy[0].tolist() == pytest.approx([5.5, 0.5], abs=1e-6)


def test_soft_argmax_ignores_cells_outside_the_map():
    # A flat map: the window clipped by the corner averages only real cells.
    m = torch.ones(1, 8, 8)
    m[0, 0, 0] = 1.0 + 1e-9
    xy = window_soft_argmax(m, window=5, temperature=1.0)
    # Valid cells of the window around (0, 0): cols/rows 0..2, mean centre 1.5.
    assert xy[0].tolist() == pytest.approx([1.5, 1.5], abs=1e-6)


def test_relative_margin_unique_versus_ambiguous():
    unique = gaussian(20, 20, 5.5, 5.5)
    twin = unique + gaussian(20, 20, 15.5, 15.5)
    maps = torch.stack([unique, twin.clamp(max=1.0)])
    peak = argmax_2d(maps)
    conf = relative_margin(maps, peak, radius=3.0)
    assert conf[0] > 0.99
    assert conf[1] < 0.01


def test_relative_margin_is_the_share_of_headroom():
    m = torch.full((1, 10, 10), 0.2)
    m[0, 2, 2] = 0.9
    m[0, 8, 8] = 0.6  # runner-up far away
    conf = relative_margin(m, argmax_2d(m), radius=2.0)
    assert conf.item() == pytest.approx((0.9 - 0.6) / (1.0 - 0.6))


def test_relative_margin_without_any_cell_outside_the_radius():
    m = torch.rand(1, 4, 4)
    conf = relative_margin(m, argmax_2d(m), radius=100.0)
    assert 0.0 <= conf.item() <= 1.0


def test_mass_near_peak():
    p = torch.zeros(1, 10, 10)
    p[0, 5, 5] = 0.6
    p[0, 0, 0] = 0.4
    assert mass_near_peak(p, argmax_2d(p), radius=2.0).item() == pytest.approx(0.6)


def test_soft_argmax_with_the_callers_peak_equals_finding_it_itself():
    gen = torch.Generator().manual_seed(3)
    maps = torch.rand((4, 30, 40), generator=gen)
    assert torch.equal(window_soft_argmax(maps, 7, 0.05, peak_xy=argmax_2d(maps)), window_soft_argmax(maps, 7, 0.05))


def test_relative_margin_of_float32_maps_equals_the_float64_computation():
    gen = torch.Generator().manual_seed(4)
    maps = torch.rand((5, 25, 35), generator=gen) * 2 - 1
    peak = argmax_2d(maps)
    assert torch.equal(relative_margin(maps, peak, 6.0), relative_margin(maps.double(), peak, 6.0))
