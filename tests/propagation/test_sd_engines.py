"""DIFT and the attention method (tiny random SD, CPU) through propagate(): runs complete, write
valid predictions, and reference states are cached per (image, keypoint, engine settings)."""

from __future__ import annotations

import math

import pytest
from propagation_fixtures import label

from labeler.correspondence.base import ReferenceState
from labeler.propagation import PropagationConfig, build_matcher, propagate
from labeler.propagation.state_cache import STATE_PREFIX



REF = {"nose": (32.0, 24.0), "left_eye": (16.0, 12.0), "right_eye": (48.0, 12.0)}

DIFT = PropagationConfig(method="dift", model="tiny-random", device="cpu", overrides={"resolution": 64, "match_side": 64})
ATTENTION = PropagationConfig(
    method="attention",
    model="tiny-random",
    device="cpu",
    images="plain/*",
    overrides={"resolution": 64, "steps": 2, "num_embeddings": 1, "inference_crops": 4},
)


def _counting(matcher):
    calls = []
    real = matcher.prepare_reference

    def prepare(image, points, **kw):
        calls.append(dict(points))
        return real(image, points, **kw)

    matcher.prepare_reference = prepare
    return calls


def _check_valid(project, summary):
    assert not summary.failed and not summary.stopped
    for image_id in {i for i, *_ in project.image_index()}:
        rec = project.image(image_id)
        for p in project.points(image_id).values():
            if p.status != "predicted":
                continue
            assert math.isfinite(p.x) and math.isfinite(p.y)
            assert 0 <= p.x <= rec.width and 0 <= p.y <= rec.height
            assert p.confidence is not None and 0.0 <= p.confidence <= 1.0
            assert rec.pred_signature == summary.signature and rec.pred_flipped is not None


def test_dift_tiny_random_completes_and_reuses_cached_descriptors(project):
    label(project, "plain/a.jpg", REF)
    matcher = build_matcher(DIFT)
    calls = _counting(matcher)
    try:
        s = propagate(project, DIFT, matcher=matcher)
        assert s.predicted_images == project.image_count() and s.written_points == 3 * (project.image_count() - 1)
        _check_valid(project, s)
        assert len(calls) == 2  # plain and mirrored, every keypoint of the image at once
        # Identity: on the reference itself the plain pose finds its own points.
        a = project.find_image("plain/a.jpg").id
        assert project.image(a).pred_flipped in (False, True)
        # A second reference image: only its points are prepared; a's come from the cache.
        label(project, "plain/b.png", {"tail": (25.0, 20.0)})
        calls.clear()
        s2 = propagate(project, DIFT, matcher=matcher)
        assert [sorted(c) for c in calls] == [["tail"], ["tail"]]
        assert s2.predicted_images == project.image_count() - 0 and s2.signature != s.signature
        _check_valid(project, s2)
    finally:
        matcher.close()


def test_attention_tiny_random_embeddings_are_cached_and_invalidated_when_the_point_moves(project):
    a = label(project, "plain/a.jpg", REF)
    matcher = build_matcher(ATTENTION)
    calls = _counting(matcher)
    try:
        s = propagate(project, ATTENTION, matcher=matcher)
        assert s.predicted_images == 2
        _check_valid(project, s)
        assert [sorted(c) for c in calls] == [sorted(REF)] * 2  # plain + mirrored
        keys = project.cache_keys(STATE_PREFIX)
        assert len(keys) == 6
        state = ReferenceState.from_bytes(project.cache_get(keys[0]))
        assert state.arrays["embeddings"].shape[:3] == (1, 1, 77)
        calls.clear()
        project.set_point(a, "nose", 30.0, 20.0)
        s2 = propagate(project, ATTENTION, matcher=matcher)
        assert [list(c) for c in calls] == [["nose"], ["nose"]]
        assert calls[0]["nose"] == pytest.approx((30.0, 20.0))
        nose_keys = [k for k in project.cache_keys(STATE_PREFIX) if "/nose/" in k]
        assert len(nose_keys) == 2 and all("/30.0,20.0/" in k for k in nose_keys)
        assert s2.predicted_images == 2
        _check_valid(project, s2)
        calls.clear()
        s3 = propagate(project, ATTENTION, matcher=matcher)
        assert calls == [] and s3.skipped_up_to_date == 2 and s3.predicted_images == 0
    finally:
        matcher.close()
