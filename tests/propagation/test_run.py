"""propagate() with a fake engine: streaming, resume, stale, confirmed points, subsets, stop,
reference-state cache, plan, and the engine cache."""

from __future__ import annotations

import pytest
from propagation_fixtures import FakeMatcher, confirmed_rows, label, predicted_rows

from labeler.errors import ModelLoadError, UserInputError
from labeler.propagation import (
    STAGE_DONE,
    STAGE_PREDICTING,
    MatcherCache,
    NoReferencesError,
    PropagationConfig,
    plan_propagation,
    propagate,
)
from labeler.propagation.state_cache import STATE_PREFIX
from labeler.store import REVIEWED

CFG = PropagationConfig(method="fake", batch_size=4, flip=False)
REF = {"nose": (32.0, 24.0), "left_eye": (16.0, 12.0), "right_eye": (48.0, 12.0)}  # on plain/a.jpg (64 x 48)


def _garble(path):
    """Unreadable now, with its size and mtime kept (so only decoding notices; a file whose size
    or mtime moved is hashed and reported as replaced instead)."""
    import os

    st = path.stat()
    path.write_bytes(b"garbage!" * (st.st_size // 8) + b"?" * (st.st_size % 8))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _targets(project):
    return [r for r in project.list_images() if r.review_status != REVIEWED and r.path != "plain/a.jpg"]


def test_predictions_stream_batch_by_batch_and_land_where_the_engine_says(project):
    a = label(project, "plain/a.jpg", REF)
    events = []
    fake = FakeMatcher()
    summary = propagate(project, CFG, matcher=fake, progress=events.append)
    n = project.image_count()
    assert summary.predicted_images == n and summary.targets == n  # a is a target too (tail open)
    assert summary.kept_confirmed == 3 and summary.written_points == 3 * (n - 1)
    assert not summary.failed and not summary.stopped and summary.device == "cuda"
    assert "tail" in " ".join(summary.messages)
    assert fake.batches == [4, 4, 4]
    committed = [e.image_ids for e in events if e.stage == STAGE_PREDICTING and e.image_ids]
    assert [len(c) for c in committed] == [4, 4, 4]
    assert sorted(i for c in committed for i in c) == sorted(r.id for r in project.list_images())
    assert events[-1].stage == STAGE_DONE
    rates = [e for e in events if e.image_ids]
    assert all(e.images_per_s and e.images_per_s > 0 and e.eta_s is not None for e in rates)
    # The fake puts each keypoint at the reference position scaled to the target's size.
    b = project.find_image("exif/rot6.jpg")  # 40 x 60 as displayed
    pts = project.points(b.id)
    assert pts["nose"].x == pytest.approx(32 / 64 * 40) and pts["nose"].y == pytest.approx(24 / 48 * 60)
    assert pts["nose"].status == "predicted" and pts["nose"].confidence == pytest.approx(0.8)
    assert pts["nose"].method == "fake" and "tail" not in pts
    record = project.image(b.id)
    assert record.pred_signature == summary.signature and record.pred_flipped is False
    assert project.points(a)["nose"].status == "manual"


def test_rerun_skips_up_to_date_force_repredicts_and_moved_reference_makes_stale(project):
    a = label(project, "plain/a.jpg", REF)
    first = propagate(project, CFG, matcher=FakeMatcher())
    again = propagate(project, CFG, matcher=(fake := FakeMatcher()))
    assert again.predicted_images == 0 and again.skipped_up_to_date == first.predicted_images
    assert fake.batches == [] and fake.prepared == []  # states came from the project's cache
    forced = propagate(project, PropagationConfig(method="fake", flip=False, force=True), matcher=FakeMatcher())
    assert forced.predicted_images == first.predicted_images and forced.skipped_up_to_date == 0
    project.set_point(a, "nose", 40.0, 24.0)  # the reference moves: every prediction is stale
    fake = FakeMatcher()
    stale = propagate(project, CFG, matcher=fake)
    assert stale.predicted_images == first.predicted_images and stale.signature != first.signature
    assert [p for _, p in fake.prepared] == [{"nose": (40.0, 24.0)}]  # only the moved keypoint
    b = project.find_image("plain/b.png")  # 50 x 40
    assert project.points(b.id)["nose"].x == pytest.approx(40 / 64 * 50)
    keys = [k for k in project.cache_keys(STATE_PREFIX) if "/nose/" in k]
    assert len(keys) == 1 and "/40.0,24.0/" in keys[0]  # the old position's entry is gone


def test_confirmed_points_are_never_replaced_and_corrections_become_references(project):
    label(project, "plain/a.jpg", REF)
    propagate(project, CFG, matcher=FakeMatcher())
    b = project.find_image("plain/b.png")
    project.correct_point(b.id, "nose", 1.0, 2.0)
    project.accept_predictions([b.id], names=["left_eye"])
    before = confirmed_rows(project.path)
    fake = FakeMatcher()
    summary = propagate(project, CFG, matcher=fake)
    assert confirmed_rows(project.path) == before
    assert summary.kept_confirmed >= 2 + 3
    # b's corrected nose and accepted left_eye now serve as references (in relative position).
    assert sorted(fake.prepared[0][1]) == ["left_eye", "nose"] and fake.prepared[0][0] == (50, 40)
    c = project.find_image("formats/gray.png")  # 40 x 30
    nose = project.points(c.id)["nose"]
    assert nose.x == pytest.approx((32 / 64 + 1 / 50) / 2 * 40)  # the fake averages its references


def test_subsets_by_glob_and_ids(project):
    label(project, "plain/a.jpg", REF)
    s = propagate(project, PropagationConfig(method="fake", flip=False, images="formats/*"), matcher=FakeMatcher())
    formats = [r for r in project.list_images() if r.path.startswith("formats/")]
    assert s.predicted_images == len(formats) == 7
    assert all(project.image(r.id).review_status == "predicted" for r in formats)
    assert project.image(project.find_image("exif/rot6.jpg").id).review_status == "unlabeled"
    one = project.find_image("exif/rot8.jpeg").id
    s = propagate(project, PropagationConfig(method="fake", flip=False, image_ids=(one,)), matcher=FakeMatcher())
    assert s.predicted_images == 1 and project.image(one).review_status == "predicted"
    with pytest.raises(UserInputError, match="matches no image"):
        propagate(project, PropagationConfig(method="fake", images="nothing/*"), matcher=FakeMatcher())
    with pytest.raises(UserInputError, match="no image with id 999"):
        propagate(project, PropagationConfig(method="fake", image_ids=(999,)), matcher=FakeMatcher())


def test_glob_matches_names_in_either_unicode_normalisation(project):
    import shutil
    import unicodedata

    label(project, "plain/a.jpg", REF)
    root = project.images_root
    nfd = unicodedata.normalize("NFD", "na\u00efve.png")  # as macOS tools write it
    shutil.copy(root / "plain/b.png", root / "plain" / nfd)
    project.add_images(root / "plain" / nfd, progress=False)
    typed = unicodedata.normalize("NFC", "plain/na\u00efve*")  # as most keyboards type it
    s = propagate(project, PropagationConfig(method="fake", flip=False, images=typed), matcher=FakeMatcher())
    assert s.predicted_images == 1


def test_no_references_is_an_error_before_anything_is_written(project):
    with pytest.raises(NoReferencesError, match="label at least one image"):
        propagate(project, CFG, matcher=FakeMatcher())
    b = project.find_image("plain/b.png").id
    project.set_absent(b, "nose")  # absent and occluded points are no references
    with pytest.raises(NoReferencesError):
        propagate(project, CFG, matcher=FakeMatcher())
    assert predicted_rows(project.path) == {}


def test_stop_between_batches_keeps_what_was_committed(project):
    label(project, "plain/a.jpg", REF)
    fake = FakeMatcher()
    stop = {"now": False}

    def progress(event):  # the request comes once the first batch is committed
        if event.stage == STAGE_PREDICTING and event.done >= 4:
            stop["now"] = True

    summary = propagate(project, CFG, matcher=fake, progress=progress, should_stop=lambda: stop["now"])
    assert summary.stopped and summary.predicted_images == 4 and fake.batches == [4]
    assert len({k[0] for k in predicted_rows(project.path)}) == 4
    rest = propagate(project, CFG, matcher=FakeMatcher())
    assert not rest.stopped and rest.skipped_up_to_date == 4 and rest.predicted_images == project.image_count() - 4


def test_stop_reaches_inside_an_engine_batch_and_keeps_earlier_batches(project):
    label(project, "plain/a.jpg", REF)
    fake = FakeMatcher()
    # The request comes while the second batch is inside the engine: nothing of it is written.
    summary = propagate(project, CFG, matcher=fake, should_stop=lambda: len(fake.batches) >= 2)
    assert summary.stopped and fake.batches == [4, 4] and summary.predicted_images == 4
    assert len({k[0] for k in predicted_rows(project.path)}) == 4


def test_stop_during_reference_preparation(project):
    label(project, "plain/a.jpg", REF)
    summary = propagate(project, CFG, matcher=FakeMatcher(), should_stop=lambda: True)
    assert summary.stopped and summary.predicted_images == 0
    assert predicted_rows(project.path) == {}


def test_missing_and_unreadable_targets_are_reported_and_the_run_goes_on(project):
    label(project, "plain/a.jpg", REF)
    root = project.images_root
    (root / "formats/photo.bmp").unlink()  # deleted after init
    (root / "formats/photo.TIF").rename(root / "formats/moved.TIF")  # moved
    _garble(root / "formats/cmyk.jpg")  # unreadable now
    summary = propagate(project, CFG, matcher=FakeMatcher())
    failed = dict(summary.failed)
    assert set(failed) == {"formats/photo.bmp", "formats/photo.TIF", "formats/cmyk.jpg"}
    assert "not found" in failed["formats/photo.bmp"] and "not an image" in failed["formats/cmyk.jpg"]
    assert summary.predicted_images == project.image_count() - 3
    assert summary.targets == summary.predicted_images + 3  # files not found count as targets that failed
    assert {r.path for r in project.list_images(missing=True)} == {"formats/photo.bmp", "formats/photo.TIF"}
    # A changed file (other size) is refused rather than predicted in the wrong coordinates.
    from labeler.store.testing import write_image

    write_image(root / "plain/one_pixel.png", "rgb", (1, 1))
    project.add_images(root / "plain/one_pixel.png", progress=False)
    write_image(root / "plain/b.png", "rgb", (80, 80))
    s = propagate(project, PropagationConfig(method="fake", flip=False, force=True), matcher=FakeMatcher())
    assert "changed since it was added" in dict(s.failed)["plain/b.png"]
    assert dict(s.failed)["plain/one_pixel.png"] == "too small to match (1x1 pixels)"  # no engine batch index


def test_unreadable_reference_is_reported_and_others_are_used(project):
    label(project, "plain/a.jpg", REF)
    label(project, "plain/b.png", {"tail": (10.0, 10.0)})
    _garble(project.images_root / "plain/b.png")
    summary = propagate(project, CFG, matcher=FakeMatcher())
    reasons = [r for p, r in summary.failed if p == "plain/b.png"]
    assert len(reasons) == 2 and reasons[0].startswith("reference image not readable")  # and as a target
    assert summary.predicted_images > 0
    assert "tail" not in project.points(project.find_image("formats/gray.png").id)


def test_plan_is_cheap_and_matches_the_run(project):
    plan = plan_propagation(project, CFG)
    assert plan.reference_images == 0 and plan.warnings and "label at least one" in plan.warnings[0]
    label(project, "plain/a.jpg", REF)
    plan = plan_propagation(project, PropagationConfig(method="classical"))
    assert plan.keypoints_with_reference == ("nose", "left_eye", "right_eye")
    assert plan.keypoints_without_reference == ("tail",) and plan.flip is True
    assert plan.targets == project.image_count() and plan.up_to_date == 0 and plan.signature_preview is None
    assert "no UNet" in plan.cost.description
    s = propagate(project, PropagationConfig(method="classical", overrides={"work_side": 64, "step": 4}, batch_size=12))
    plan = plan_propagation(project, PropagationConfig(method="classical", overrides={"work_side": 64, "step": 4}))
    assert plan.signature_preview == s.signature and plan.targets == 0 and plan.up_to_date == s.predicted_images


def test_cost_estimates_for_the_sd_methods(project):
    label(project, "plain/a.jpg", REF)
    label(project, "plain/b.png", {"nose": (25.0, 20.0)})
    att = plan_propagation(project, PropagationConfig(method="attention", preset="paper", flip=False)).cost
    # 4 references (3 + 1) x 5 contexts x 20 crops; 4 keypoints to optimise x 5 x 129 steps
    assert (att.unet_passes_per_target, att.unet_passes_for_references) == (400, 4 * 5 * 129)
    att2 = plan_propagation(project, PropagationConfig(method="attention", preset="fast")).cost  # flip on
    assert (att2.unet_passes_per_target, att2.unet_passes_for_references) == (4 * 2 * 8 * 2, 4 * 2 * 129 * 2)
    dift = plan_propagation(project, PropagationConfig(method="dift", preset="paper", flip=False)).cost
    assert (dift.unet_passes_per_target, dift.unet_passes_for_references) == (8, 2 * 8)
    assert "DIFT paper" in dift.description
    fast = plan_propagation(project, PropagationConfig(method="dift", preset="fast", flip=False)).cost
    assert (fast.unet_passes_per_target, fast.unet_passes_for_references) == (1, 2 * 8)  # references: 8 draws


def test_model_that_fails_to_load_raises_before_writing(project):
    label(project, "plain/a.jpg", REF)
    with pytest.raises(ModelLoadError):
        propagate(project, PropagationConfig(method="dift", model=str(project.path.parent / "no-such-model"), device="cpu"))
    assert predicted_rows(project.path) == {}


def test_matcher_cache_reuses_the_loaded_engine(project):
    label(project, "plain/a.jpg", REF)
    cache = MatcherCache()
    cfg = PropagationConfig(method="classical", overrides={"work_side": 64, "step": 4}, batch_size=12, flip=False)
    propagate(project, cfg, matcher_cache=cache)
    first = cache.peek(cfg)
    assert first is not None
    propagate(project, PropagationConfig(**{**cfg.__dict__, "force": True}), matcher_cache=cache)
    assert cache.peek(cfg) is first
    other = PropagationConfig(method="classical", overrides={"work_side": 96, "step": 4}, flip=False)
    assert cache.peek(other) is None
    cache.close()
    assert cache.peek(cfg) is None


def test_bad_settings_are_user_errors(project):
    label(project, "plain/a.jpg", REF)
    with pytest.raises(UserInputError, match="batch size"):
        propagate(project, PropagationConfig(method="fake", batch_size=0), matcher=FakeMatcher())
    with pytest.raises(UserInputError, match="unknown setting"):
        propagate(project, PropagationConfig(method="classical", overrides={"bogus": 1}))
    with pytest.raises(UserInputError, match="unknown method"):
        propagate(project, PropagationConfig(method="nope"))


def test_a_file_replaced_by_another_picture_is_neither_target_nor_reference(project):
    """Same pixel size and byte count, new content: the labels no longer fit it."""
    import os

    from labeler.store import CHANGED_FILE
    from labeler.store.testing import write_image

    label(project, "plain/a.jpg", REF)
    label(project, "plain/b.png", {"tail": (10.0, 10.0)})
    root = project.images_root
    for rel, seed in (("plain/b.png", 77), ("formats/gray.png", 78)):
        path = root / rel
        st = path.stat()
        write_image(path, "rgb", project.image_by_path(rel).width and (project.image_by_path(rel).width, project.image_by_path(rel).height), seed=seed)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    summary = propagate(project, CFG, matcher=FakeMatcher())
    failed = dict(summary.failed)
    assert failed["plain/b.png"] == CHANGED_FILE and failed["formats/gray.png"] == CHANGED_FILE
    assert "tail" not in project.points(project.find_image("formats/rgba.png").id)  # b.png was tail's only reference
    assert "nose" not in project.points(project.find_image("formats/gray.png").id)
    assert {r.path for r in project.list_images(changed=True)} == {"plain/b.png", "formats/gray.png"}


def test_images_flagged_skip_or_no_object_are_never_targets(project):
    from labeler.store import FLAG_LATER, FLAG_NO_OBJECT, FLAG_SKIP

    label(project, "plain/a.jpg", REF)
    skip, none_, later = (project.find_image(p).id for p in ("plain/b.png", "exif/rot6.jpg", "exif/rot8.jpeg"))
    project.set_image_flag(skip, FLAG_SKIP)
    project.set_image_flag(none_, FLAG_NO_OBJECT)
    project.set_image_flag(later, FLAG_LATER)  # later is labelled as usual
    plan = plan_propagation(project, CFG)
    assert plan.targets == project.image_count() - 2
    assert any("2 image(s) flagged skip or no object are not predicted" in w for w in plan.warnings)
    propagate(project, CFG, matcher=FakeMatcher())
    assert project.points(skip) == {} and project.points(none_) == {}
    assert project.image(later).review_status == "predicted"
