"""The one rule for deciding about predictions (store.review_ops, records.FLAGS_OUT_OF_REVIEW):
a flagged image's rows never change, a confirmed point never changes, and exactly the
predictions a decision selects do. Checked over generated projects and decisions, on SQLite
and PostgreSQL; plus what "to review" counts and which points are references."""

from __future__ import annotations

import random

import pytest

from labeler.errors import UserInputError
from labeler.propagation.references import candidate_points
from labeler.store import ABSENT, IMAGE_FLAGS, PREDICTED, awaits_review
from labeler.store.testing import KEYPOINTS

MODELS = ("sd-2-1", "tiny-random", None)


def _rows(project) -> dict[tuple[int, str], object]:
    return {(p.image_id, p.name): p for p in project.all_points()}


def _populate(project, rng: random.Random) -> dict[int, str | None]:
    """Random flags, confirmed points and predictions (random confidence, unknown ones too)."""
    project.clear_predictions()
    ids = [r[0] for r in project.image_index()]
    for image_id in ids:
        project.set_points(image_id, {n: "unlabeled" for n in project.points(image_id)})
    project.set_image_flag(ids, None)
    flags = {}
    for image_id in ids:
        flags[image_id] = rng.choice((None, None, *IMAGE_FLAGS))
        image = project.image(image_id)
        confirmed = {n: (rng.uniform(0, image.width), rng.uniform(0, image.height), 2)
                     for n in KEYPOINTS if rng.random() < 0.3}
        if confirmed:
            project.set_points(image_id, confirmed)
        for model in rng.sample(MODELS, 2):
            preds = {n: (rng.uniform(0, image.width), rng.uniform(0, image.height),
                         None if rng.random() < 0.15 else round(rng.random(), 2))
                     for n in KEYPOINTS if rng.random() < 0.6}
            project.write_predictions([(image_id, preds)], method="dift", model=model, partial=True)
    for image_id, flag in flags.items():
        if flag:
            project.set_image_flag(image_id, flag)
    return flags


KINDS = ("accept_above", "accept", "accept_but_tests", "reject_below", "reject", "absent")


def _decision(rng: random.Random, ids: list[int], kind: str):
    """(store call, predicate saying which predicted row of an unflagged image it changes)."""
    images = None if rng.random() < 0.5 else set(rng.sample(ids, rng.randint(1, 3)))
    names = None if rng.random() < 0.6 else rng.sample(KEYPOINTS, rng.randint(1, 2))
    t = round(rng.random(), 2)

    def where(p) -> bool:
        return (images is None or p.image_id in images) and (names is None or p.name in names)

    if kind == "accept_above":
        return (lambda pr: pr.accept_predictions(images, names=names, min_confidence=t),
                lambda p: where(p) and p.confidence is not None and p.confidence >= t, kind)
    if kind == "accept":
        return lambda pr: pr.accept_predictions(images, names=names), where, kind
    if kind == "accept_but_tests":
        return (lambda pr: pr.accept_predictions(images, names=names, exclude_models=("tiny-random",)),
                lambda p: where(p) and p.model != "tiny-random", kind)
    if kind == "reject_below":
        return (lambda pr: pr.reject_predictions(images, names=names, below=t),
                lambda p: where(p) and (p.confidence is None or p.confidence < t), kind)
    return (lambda pr: pr.reject_predictions(images, names=names, absent=kind == "absent"), where, kind)


def test_decisions_touch_exactly_the_selected_predictions_of_unflagged_images(project):
    rng = random.Random(2026)
    ids = [r[0] for r in project.image_index()]
    for _ in range(4):
        flags = _populate(project, rng)
        for kind in rng.sample(KINDS, len(KINDS)):  # every kind of decision on every generated project
            call, selects, kind = _decision(rng, ids, kind)
            before = _rows(project)
            n = call(project)
            after = _rows(project)
            expected = {k for k, p in before.items() if p.status == PREDICTED and not flags[k[0]] and selects(p)}
            assert n == len(expected), kind
            for key, row in before.items():
                if key not in expected:
                    assert after.get(key) == row, (kind, key, flags[key[0]])  # flagged or confirmed: untouched
                elif kind.startswith("accept"):
                    assert after[key].status == "accepted" and (after[key].x, after[key].y) == (row.x, row.y)
                    assert (after[key].pred_x, after[key].pred_y) == (row.x, row.y)
                elif kind == "absent":
                    assert after[key].visibility == ABSENT and after[key].confirmed
                    assert (after[key].pred_x, after[key].pred_y) == (row.x, row.y)
                else:
                    assert key not in after
            assert set(after) - set(before) == set()
            # what is "to review": exactly the unflagged images with predictions left
            waiting = {k[0] for k, p in after.items() if p.status == PREDICTED and not flags[k[0]]}
            assert {q.image_id for q in project.review_queue()} == waiting
            assert {p.image_id for p in project.review_points()} == waiting
            counts = project.counts()
            assert counts.images_by_status["predicted"] == len(waiting)
            assert counts.images_by_flag == {f: sum(1 for v in flags.values() if v == f) for f in IMAGE_FLAGS}
            assert sum(counts.images_by_status.values()) + sum(counts.images_by_flag.values()) == counts.images
            listed = {i: s for i, _, s in project.image_index()}
            assert {i for i, s in listed.items() if awaits_review(s, flags[i])} == waiting
        # references: confirmed visible points of unflagged images only
        refs = {(p.image_id, p.name) for p in candidate_points(project)}
        confirmed = {k for k, p in _rows(project).items() if p.confirmed and p.visibility == 2}
        assert refs == {k for k in confirmed if not flags[k[0]]}


@pytest.mark.parametrize("flag", IMAGE_FLAGS)
def test_naming_a_flagged_image_says_why_and_changes_nothing(project, flag):
    image = project.list_images()[0]
    project.write_predictions([(image.id, {"nose": (1, 1, 0.9)})], method="dift", model="sd-2-1")
    project.set_image_flag(image.id, flag)
    with pytest.raises(UserInputError, match=rf"{image.path} is flagged .*clear the flag"):
        project.check_reviewable([image.id])
    assert project.accept_predictions([image.id]) == 0 and project.reject_predictions([image.id]) == 0
    assert project.points(image.id)["nose"].status == PREDICTED
    project.set_image_flag(image.id, None)
    project.check_reviewable([image.id])
    assert project.accept_predictions([image.id]) == 1



def test_a_merge_takes_flags_and_a_fresh_schemas_category(where, tmp_path):
    """What a COCO import hands the store: image flags (set where the image has none) and the
    file's category name (recorded only when the schema comes from the file)."""
    from labeler.store import ImportedPoint, Project
    from labeler.store.relpaths import relative_to_root
    from labeler.store.scanning import find_image_files, probe_files
    from labeler.store.testing import make_image_folder

    sample = make_image_folder(tmp_path / "imgs")
    probed, _ = probe_files([(f, relative_to_root(f, sample.root)) for f in find_image_files(sample.root)], progress=False)
    with Project.create(where, sample.root, images=probed, name="fresh") as fresh:
        paths = [p.rel for p in probed][:3]
        fresh.set_image_flag(fresh.image_by_path(paths[2]).id, "skip")
        schema = type(fresh.schema())(("nose",), (), ())
        report = fresh.merge_points({paths[0]: {"nose": ImportedPoint(1.0, 1.0, 2)}}, schema=schema, category="bird",
                                    flags={paths[1]: "no_object", paths[2]: "later"})
        assert report.flags_set == 1 and fresh.category() == "bird"
        assert [fresh.image_by_path(p).flag for p in paths] == [None, "no_object", "skip"]
        with pytest.raises(UserInputError, match="unknown image flag"):
            fresh.merge_points({}, flags={paths[0]: "maybe"})
        fresh.merge_points({}, category="other")  # the schema exists: the category stays
        assert fresh.category() == "bird"
