"""Propagation into each instance (fake engine): references from a crop around their box,
each boxed target instance predicted in its own crop and mapped back, images without boxes as
before; the same run path serves the CLI, the GUI worker and the Ray executor."""

from __future__ import annotations

import math

import pytest
from propagation_fixtures import FakeMatcher, label

from labeler.propagation import PropagationConfig, propagate
from labeler.propagation.boxes import crop_around

CFG = PropagationConfig(method="fake", batch_size=4, flip=False)
BOX = (10.0, 8.0, 30.0, 24.0)  # on plain/a.jpg (64 x 48)
REF = {"nose": (25.0, 20.0), "left_eye": (15.0, 12.0), "right_eye": (35.0, 12.0)}


def test_each_boxed_instance_gets_its_own_prediction_from_its_crop(project):
    a = label(project, "plain/a.jpg", REF)
    (first,) = project.instances(a)
    project.set_box(first.id, BOX)
    b = project.find_image("plain/b.png")  # 50 x 40
    same = project.add_instance(b.id, box=(12.0, 10.0, 30.0, 24.0), name="same size")
    small = project.add_instance(b.id, box=(2.0, 2.0, 10.0, 8.0), name="small")
    fake = FakeMatcher()
    summary = propagate(project, CFG, matcher=fake)
    assert not summary.failed
    # the reference was described from its crop, not the whole image
    ref_crop = crop_around(BOX, 64, 48)
    whole_pixels = (math.ceil(ref_crop[2]) - math.floor(ref_crop[0]), math.ceil(ref_crop[3]) - math.floor(ref_crop[1]))
    assert fake.prepared[0][0] == whole_pixels != (64, 48)
    # a target box of the same size: the points land at the same place relative to the box
    pts = project.points(b.id, same.id)
    for name, (x, y) in REF.items():
        assert pts[name].status == "predicted"
        assert pts[name].x == pytest.approx(x - BOX[0] + 12.0, abs=1.5)
        assert pts[name].y == pytest.approx(y - BOX[1] + 10.0, abs=1.5)
    crop = crop_around((2.0, 2.0, 10.0, 8.0), 50, 40)
    small_pts = project.points(b.id, small.id)
    assert set(small_pts) == set(REF)
    assert all(crop[0] <= p.x <= crop[2] and crop[1] <= p.y <= crop[3] for p in small_pts.values())
    # an image with no box is predicted whole into its first instance, as before instances
    g = project.find_image("formats/gray.png")  # 40 x 30
    (only,) = project.instances(g.id)
    assert only.box is None
    # (the fake puts a point at its place relative to the reference crop, scaled to the target)
    rel = (REF["nose"][0] - math.floor(ref_crop[0])) / whole_pixels[0]
    assert project.points(g.id)["nose"].x == pytest.approx(rel * 40)
    # unchanged: up to date and skipped; a box moved: that image (only) is predicted again
    again = propagate(project, CFG, matcher=FakeMatcher())
    assert again.predicted_images == 0
    project.set_box(small.id, (20.0, 20.0, 10.0, 8.0))
    third = propagate(project, CFG, matcher=FakeMatcher())
    assert third.predicted_images == 1  # only b, whose boxes changed
    moved = project.points(b.id, small.id)
    assert all(p.y >= 20.0 - 4.0 for p in moved.values())


def test_a_person_finished_instance_is_not_predicted_and_its_points_stay(project):
    label(project, "plain/a.jpg", REF)
    b = project.find_image("plain/b.png")
    done = project.add_instance(b.id, box=(1.0, 1.0, 20.0, 16.0))
    full = {"nose": (5, 5), "left_eye": (6, 6), "right_eye": (7, 7), "tail": (8, 8)}
    project.set_points(b.id, full, instance_id=done.id)
    open_ = project.add_instance(b.id, box=(22.0, 10.0, 20.0, 16.0))
    fake = FakeMatcher()
    propagate(project, CFG, matcher=fake)
    assert {n: (p.x, p.y, p.status) for n, p in project.points(b.id, done.id).items()} == {
        n: (float(x), float(y), "manual") for n, (x, y) in full.items()
    }
    assert project.points(b.id, open_.id)["nose"].status == "predicted"


def test_a_new_box_is_predicted_even_when_the_image_record_says_up_to_date(project):
    """(A team annotator may not reset an image's prediction record: the run still notices.)"""
    label(project, "plain/a.jpg", REF)
    propagate(project, CFG, matcher=FakeMatcher())
    b = project.find_image("plain/b.png")
    signature = project.image(b.id).pred_signature
    new = project.add_instance(b.id, box=(5.0, 5.0, 30.0, 24.0))
    with project._write() as s, s.begin():  # as if the record could not be reset
        from sqlalchemy import text

        s.execute(text("UPDATE image SET pred_signature = :s WHERE id = :i"), {"s": signature, "i": b.id})
    summary = propagate(project, CFG, matcher=FakeMatcher())
    assert summary.predicted_images == 1 and project.points(b.id, new.id)
