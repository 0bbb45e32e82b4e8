"""Out of memory: halve the batch and retry the same images, then a smaller engine batch, then the CPU."""

from __future__ import annotations

from propagation_fixtures import FakeConfig, FakeMatcher, label

from labeler.propagation import MatcherCache, PropagationConfig, propagate
from labeler.propagation.engines import shrink_engine_batch

REF = {"nose": (32.0, 24.0), "left_eye": (16.0, 12.0)}


def test_batch_is_halved_and_the_same_images_retried(project):
    label(project, "plain/a.jpg", REF)
    fake = FakeMatcher(oom_above=1)
    events = []
    s = propagate(project, PropagationConfig(method="fake", batch_size=4, flip=False), matcher=fake, progress=events.append)
    n = project.image_count()
    assert s.predicted_images == n and not s.failed and not s.stopped
    assert fake.batches[:3] == [4, 2, 1]  # retried, smaller each time, then it fits
    assert [b for b in fake.batches[3:]] == [1] * (n - 1)  # and stays small for the rest of the run
    assert any("retrying with 2" in m for m in s.messages) and any("retrying with 1" in m for m in s.messages)
    assert s.device == "cuda"
    assert [e.message for e in events if e.notice] == list(s.messages[-2:])
    ids = sorted(i for e in events for i in e.image_ids)
    assert ids == sorted(r.id for r in project.list_images())  # every image exactly once


def test_engine_batch_then_cpu_fallback_with_a_message(project):
    label(project, "plain/a.jpg", REF)
    fake = FakeMatcher(oom_unless_cpu=True, config=FakeConfig(batch_size=2))
    s = propagate(project, PropagationConfig(method="fake", batch_size=2, flip=False), matcher=fake)
    assert s.predicted_images == project.image_count() and not s.failed
    assert s.device == "cpu" and fake.device == "cpu"
    assert fake.config.batch_size == 1
    text = " | ".join(s.messages)
    assert "retrying with 1" in text and "engine batch lowered to 1" in text and "continuing on the CPU" in text
    assert fake.devices[:3] == ["cuda", "cuda", "cuda"] and set(fake.devices[3:]) == {"cpu"}


def test_nothing_left_to_try_fails_those_images_only(project):
    label(project, "plain/a.jpg", REF)
    fake = FakeMatcher(device_name="cpu", oom_above=0, oom_on_cpu_too=True)  # even one image does not fit, on the CPU
    s = propagate(project, PropagationConfig(method="fake", batch_size=1, flip=False), matcher=fake)
    assert s.predicted_images == 0 and len(s.failed) == project.image_count()
    assert all("out of memory" in r for _, r in s.failed)


def test_a_cached_engine_that_fell_back_to_the_cpu_is_evicted(project, monkeypatch):
    label(project, "plain/a.jpg", REF)
    cache = MatcherCache()
    fake = FakeMatcher(oom_unless_cpu=True)
    monkeypatch.setattr("labeler.propagation.engines.build_matcher", lambda config: fake)
    cfg = PropagationConfig(method="fake", batch_size=1, flip=False)
    s = propagate(project, cfg, matcher_cache=cache)
    assert s.device == "cpu" and cache.peek(cfg) is None and fake.closed


def test_shrink_engine_batch_only_touches_a_batch_size_field():
    fake = FakeMatcher(config=FakeConfig(batch_size=5))
    assert shrink_engine_batch(fake) == 2 and shrink_engine_batch(fake) == 1 and shrink_engine_batch(fake) is None
    assert shrink_engine_batch(object()) is None  # type: ignore[arg-type]
