"""Which confirmed points become references, in which order, and what the run signature covers."""

from __future__ import annotations

import time

from propagation_fixtures import label

from labeler.propagation.references import by_image, run_signature, select_references


def _ids(project, rels):
    return [project.find_image(r).id for r in rels]


def test_only_confirmed_visible_points_are_references(project):
    a = label(project, "plain/a.jpg", {"nose": (10, 10), "left_eye": (20, 5)})
    project.set_occluded(a, "left_eye")
    b = project.find_image("plain/b.png").id
    project.set_absent(b, "nose")
    project.write_predictions([(b, {"tail": (3.0, 3.0, 0.9)})], method="m", model=None)
    refs = select_references(project, 8)
    assert list(refs) == ["nose"]
    assert [(p.image.image_id, p.x, p.y, p.status) for p in refs["nose"]] == [(a, 10.0, 10.0, "manual")]


def test_order_manual_then_corrected_then_accepted_most_recent_first_and_capped(project):
    rels = ["plain/a.jpg", "plain/b.png", "formats/gray.png", "formats/rgba.png", "formats/cmyk.jpg", "formats/photo.bmp"]
    ids = _ids(project, rels)
    # predictions on four images, then: accept two, correct one, and two manual points
    project.write_predictions([(i, {"nose": (5.0, 5.0, 0.5)}) for i in ids[:4]], method="m", model=None)
    project.accept_predictions([ids[0]])
    time.sleep(0.01)
    project.accept_predictions([ids[1]])
    time.sleep(0.01)
    project.correct_point(ids[2], "nose", 7.0, 7.0)
    time.sleep(0.01)
    project.set_point(ids[4], "nose", 1.0, 1.0)
    time.sleep(0.01)
    project.set_point(ids[5], "nose", 2.0, 2.0)
    order = [p.image.image_id for p in select_references(project, 8)["nose"]]
    assert order == [ids[5], ids[4], ids[2], ids[1], ids[0]]  # ids[3] is still a prediction
    statuses = [p.status for p in select_references(project, 8)["nose"]]
    assert statuses == ["manual", "manual", "corrected", "accepted", "accepted"]
    capped = select_references(project, 3)["nose"]
    assert [p.image.image_id for p in capped] == [ids[5], ids[4], ids[2]]
    grouped = by_image(select_references(project, 8))
    assert sorted(grouped) == sorted([ids[0], ids[1], ids[2], ids[4], ids[5]])


def test_signature_covers_engine_points_flip_and_cap(project):
    a = label(project, "plain/a.jpg", {"nose": (10, 10), "left_eye": (20, 5)})
    used = [p for pts in select_references(project, 8).values() for p in pts]
    base = run_signature("engine-1", used, flip=True, max_references=8)
    assert base == run_signature("engine-1", list(reversed(used)), flip=True, max_references=8)  # order-free
    assert base != run_signature("engine-2", used, flip=True, max_references=8)
    assert base != run_signature("engine-1", used, flip=False, max_references=8)
    assert base != run_signature("engine-1", used, flip=True, max_references=4)
    assert base != run_signature("engine-1", used[:1], flip=True, max_references=8)
    project.set_point(a, "nose", 10.5, 10)  # a reference point moves
    moved = [p for pts in select_references(project, 8).values() for p in pts]
    assert base != run_signature("engine-1", moved, flip=True, max_references=8)
