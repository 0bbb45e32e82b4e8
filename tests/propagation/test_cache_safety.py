"""Cached reference states from a project file from someone else: bounded, validated,
discarded with a note and prepared again; `labeler clear-cache` empties the cache."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import numpy as np
import pytest
from propagation_fixtures import FakeMatcher, label

from labeler.correspondence.base import ReferenceState
from labeler.propagation import PropagationConfig, propagate
from labeler.propagation.state_cache import STATE_PREFIX

CFG = PropagationConfig(method="fake", batch_size=4, flip=False)
REF = {"nose": (32.0, 24.0), "left_eye": (16.0, 12.0), "right_eye": (48.0, 12.0)}


def _state(k: int = 1) -> ReferenceState:
    names = tuple(f"k{i}" for i in range(k))
    return ReferenceState("fake", "fake-v1", names, np.ones((k, 2)), (64, 48), arrays={"mean": np.ones((k, 1))})


def _bomb(inflated: int) -> bytes:
    """A valid-looking .npz whose array member inflates from ~1/1000 of its size."""
    good = _state().to_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != "array:mean.npy":
                dst.writestr(info, src.read(info))
        header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1), dtype=np.uint8))
        header["shape"] = (1, inflated)
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, header)
        member = zipfile.ZipInfo("array:mean.npy")
        member.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(member, "w", force_zip64=True) as fh:
            fh.write(buf.getvalue())
            chunk = bytes(1 << 20)
            for _ in range(inflated >> 20):
                fh.write(chunk)
    return out.getvalue()


def test_round_trip_still_works():
    again = ReferenceState.from_bytes(_state(3).to_bytes())
    assert again.names == ("k0", "k1", "k2") and again.arrays["mean"].shape == (3, 1)


def test_a_deflated_bomb_is_refused_before_inflating():
    data = _bomb(64 << 20)
    assert len(data) < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError):
            ReferenceState.from_bytes(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: setattr(s, "points", np.full((1, 2), np.nan)),
        lambda s: s.arrays.__setitem__("mean", np.full((1, 1), np.inf)),
        lambda s: s.arrays.__setitem__("mean", np.ones((3, 1))),
        lambda s: setattr(s, "image_size", (0, -4)),
    ],
)
def test_non_finite_or_wrong_shaped_states_are_refused(damage):
    state = _state()
    damage(state)
    with pytest.raises(ValueError):
        ReferenceState.from_bytes(state.to_bytes())


def test_a_bad_cache_entry_is_discarded_with_a_note_and_prepared_again(project):
    label(project, "plain/a.jpg", REF)
    first = propagate(project, CFG, matcher=FakeMatcher())
    assert first.predicted_images > 0
    keys = project.cache_keys(STATE_PREFIX)
    assert keys
    bad = _state()
    bad.points = np.full((1, 2), np.nan)
    image_id = project.find_image("plain/a.jpg").id
    project.cache_put(keys[0], bad.to_bytes(), image_id=image_id)
    project.cache_put(keys[1], b"\x00garbage", image_id=image_id)
    fake = FakeMatcher()
    again = propagate(project, PropagationConfig(method="fake", batch_size=4, flip=False, force=True), matcher=fake)
    assert again.predicted_images == first.predicted_images
    assert any("discarded 2 damaged cached reference state" in m for m in again.messages), again.messages
    assert fake.prepared  # prepared again
    ReferenceState.from_bytes(project.cache_get(keys[0]))  # and stored well-formed


def test_clear_cache_empties_it(project):
    label(project, "plain/a.jpg", REF)
    propagate(project, CFG, matcher=FakeMatcher())
    assert project.cache_keys()
    removed = project.clear_cache()
    assert removed > 0 and project.cache_keys() == []


def test_a_cached_state_shaped_unlike_the_others_is_discarded(project):
    label(project, "plain/a.jpg", REF)
    propagate(project, CFG, matcher=FakeMatcher())
    keys = [k for k in project.cache_keys(STATE_PREFIX) if "/nose/" in k]
    odd = ReferenceState.from_bytes(project.cache_get(keys[0]))
    odd.arrays["mean"] = np.ones((1, 7))
    project.cache_put(keys[0], odd.to_bytes(), image_id=project.find_image("plain/a.jpg").id)
    fake = FakeMatcher()
    again = propagate(project, PropagationConfig(method="fake", batch_size=4, flip=False, force=True), matcher=fake)
    assert any("discarded 1 damaged cached reference state" in m for m in again.messages), again.messages
    assert ReferenceState.from_bytes(project.cache_get(keys[0])).arrays["mean"].shape == (1, 1)


def test_an_oversized_entry_is_not_even_read(project, monkeypatch):
    from labeler.correspondence import base

    label(project, "plain/a.jpg", REF)
    propagate(project, CFG, matcher=FakeMatcher())
    key = project.cache_keys(STATE_PREFIX)[0]
    monkeypatch.setattr(base, "MAX_STATE_BYTES", 100)
    with pytest.raises(ValueError, match="larger"):
        project.cache_get(key, max_bytes=base.MAX_STATE_BYTES)


def test_a_deeply_nested_engine_memo_is_ignored(project):
    from labeler.propagation.state_cache import engine_key, remembered_engine

    project.cache_put(engine_key(CFG), b"[" * 100000 + b"]" * 100000)
    assert remembered_engine(project, CFG) is None


def test_text_or_infinite_reference_coordinates_stop_propagation_with_a_message(project):
    import sqlite3

    from labeler.errors import UserInputError

    label(project, "plain/a.jpg", REF)
    conn = sqlite3.connect(project.path)
    conn.execute("UPDATE point SET x = 'abc' WHERE keypoint_id = (SELECT id FROM keypoint WHERE name = 'nose')")
    conn.commit()
    conn.close()
    with pytest.raises(UserInputError, match="plain/a.jpg"):
        propagate(project, CFG, matcher=FakeMatcher())


def test_a_cached_state_nesting_200000_brackets_is_discarded_once(project):
    """The header is JSON: 200,000 nested brackets raised RecursionError on every later run."""
    import io

    label(project, "plain/a.jpg", REF)
    propagate(project, CFG, matcher=FakeMatcher())
    key = project.cache_keys(STATE_PREFIX)[0]
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(("[" * 200_000 + "]" * 200_000).encode(), dtype=np.uint8), points=np.zeros((1, 2)))
    project.cache_put(key, buf.getvalue(), image_id=project.find_image("plain/a.jpg").id)
    cfg = PropagationConfig(method="fake", batch_size=4, flip=False, force=True)
    again = propagate(project, cfg, matcher=FakeMatcher())
    assert any("discarded 1 damaged cached reference state" in m for m in again.messages), again.messages
    ReferenceState.from_bytes(project.cache_get(key))  # prepared again and stored well-formed
    third = propagate(project, cfg, matcher=FakeMatcher())
    assert not any("discarded" in m for m in third.messages), third.messages
