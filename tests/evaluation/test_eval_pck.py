"""PCK by hand: thresholds, ties, empty pairs, per image versus per point."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labeler.evaluation.pairs import EvalPair
from labeler.evaluation.pck import alpha_key, correct_mask, pck_curve, per_category, score_pair, summarize
from labeler.evaluation.thresholds import pck_threshold


def _score(pid, cat, dists, t):
    """A pair whose predictions lie ``dists`` pixels right of the truth."""
    truth = np.array([[10.0 * i, 5.0] for i in range(len(dists))]).reshape(-1, 2)
    pred = truth + np.c_[np.asarray(dists, float), np.zeros(len(dists))]
    return score_pair(pid, cat, pred, truth, t)


def test_distance_exactly_at_threshold_is_correct():
    # 3-4-5 triangle: distance exactly 5 = 0.05 * 100
    s = score_pair("p", "c", np.array([[13.0, 24.0]]), np.array([[10.0, 20.0]]), 100.0)
    assert s.distances[0] == 5.0
    assert s.correct(0.05) == 1
    assert s.correct(0.0499) == 0
    # just beyond the threshold is wrong
    assert not correct_mask(np.array([5.000001]), 100.0, 0.05)[0]


def test_tie_survives_floating_point_rounding_of_alpha_times_t():
    assert 0.15 * 3 < 0.45  # 0.44999999999999996 in binary floating point
    assert correct_mask(np.array([0.45]), 3.0, 0.15)[0]
    assert correct_mask(np.array([0.3]), 3.0, 0.1)[0]


def test_zero_threshold_accepts_only_exact_hits():
    assert correct_mask(np.array([0.0, 1e-6]), 0.0, 0.1).tolist() == [True, False]


def test_missing_prediction_is_never_correct():
    s = score_pair("p", "c", np.array([[np.nan, np.nan], [1.0, 1.0]]), np.array([[1.0, 1.0], [1.0, 1.0]]), 100)
    assert s.correct(10.0) == 1


def test_per_image_and_per_point_by_hand():
    # T = 100. Pair a: d = 0, 5, 10, 50 | pair b: d = 0 | pair c: d = 10, 50 | pair d: no points.
    scores = [
        _score("a", "cat", [0, 5, 10, 50], 100),
        _score("b", "cat", [0], 100),
        _score("c", "dog", [10, 50], 100),
        _score("d", "dog", [], 100),
    ]
    t = summarize(scores, (0.05, 0.1, 0.15))
    assert (t.pairs, t.empty_pairs, t.points) == (4, 1, 7)
    # per point: correct / 7;  @0.05: 2+1+0 = 3, @0.1: 3+1+1 = 5, @0.15: same as 0.1
    assert t.per_point["0.05"] == pytest.approx(100 * 3 / 7)
    assert t.per_point["0.1"] == pytest.approx(100 * 5 / 7)
    assert t.per_point["0.15"] == pytest.approx(100 * 5 / 7)
    # per image: mean over the three pairs with points; @0.05: (2/4 + 1 + 0)/3, @0.1: (3/4 + 1 + 1/2)/3
    assert t.per_image["0.05"] == pytest.approx(50.0)
    assert t.per_image["0.1"] == pytest.approx(75.0)
    cats = per_category(scores, (0.05, 0.1))
    assert list(cats) == ["cat", "dog"]
    assert cats["cat"].per_point["0.05"] == pytest.approx(60.0)  # 3 / 5
    assert cats["cat"].per_image["0.05"] == pytest.approx(75.0)  # (0.5 + 1) / 2
    assert cats["dog"].per_point["0.1"] == pytest.approx(50.0)
    assert cats["dog"].empty_pairs == 1 and cats["dog"].pairs == 2


def test_no_points_at_all_gives_undefined_pck():
    t = summarize([_score("d", "dog", [], 100)], (0.1,))
    assert t.points == 0 and t.empty_pairs == 1
    assert t.per_point["0.1"] is None and t.per_image["0.1"] is None
    assert summarize([], (0.1,)).per_image["0.1"] is None
    point, image = pck_curve([_score("d", "dog", [], 100)], np.array([0.1]))
    assert math.isnan(point[0]) and math.isnan(image[0])


def test_curve_matches_summary_and_is_monotone():
    scores = [_score("a", "cat", [0, 5, 10, 50], 100), _score("c", "dog", [10, 50], 100)]
    alphas = np.array([0.05, 0.1, 0.5])
    point, image = pck_curve(scores, alphas)
    t = summarize(scores, tuple(alphas))
    assert point.tolist() == pytest.approx([t.per_point[alpha_key(a)] for a in alphas])
    assert image.tolist() == pytest.approx([t.per_image[alpha_key(a)] for a in alphas])
    assert point[-1] == 100.0 and np.all(np.diff(point) >= 0)


def test_alpha_keys():
    assert [alpha_key(a) for a in (0.05, 0.1, 0.15, 0.2)] == ["0.05", "0.1", "0.15", "0.2"]


def _pair(**kw):
    base = dict(pair_id="p", category="c", src_path="s.jpg", trg_path="t.jpg", names=["0", "1", "2"],
                src_xy=[[0, 0], [1, 1], [2, 2]], trg_xy=[[10.5, 20.5], [40.5, 25.5], [30.5, 80.5]])
    base.update(kw)
    return EvalPair(**base)


def test_threshold_protocols_by_hand():
    p = _pair(trg_bbox=(5, 10, 125, 50), src_bbox=(0, 0, 30, 200), trg_size=(640, 480))
    assert pck_threshold(p, "bbox") == 120  # max(125 - 5, 50 - 10)
    assert pck_threshold(p, "bbox-src") == 200
    assert pck_threshold(p, "bbox-kps") == 60  # max(40.5 - 10.5, 80.5 - 20.5)
    assert pck_threshold(p, "img") == 640
    assert pck_threshold(p, "img", (300, 900)) == 900  # the loaded image's size wins
    # the loader quirk max(x_max, y_max) + 1 would give 81.5 here; we never compute it
    assert pck_threshold(p, "bbox-kps") != max(40.5, 80.5) + 1
