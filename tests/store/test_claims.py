"""Claims: one person labels an image at a time; a crashed client's claim expires (both backends)."""

from __future__ import annotations

import time

from labeler.store import Project


def _predict(project, *paths):
    ids = [project.image_by_path(p).id for p in paths]
    for n, i in enumerate(ids):
        project.write_predictions([(i, {"nose": (1.0, 1.0, 0.1 * (n + 1))})], method="m", model=None)
    return ids


def test_a_claim_keeps_others_out_until_released_or_expired(project, img):
    project.user = "ann"
    mine = project.claim_image(img)
    assert (mine.user, mine.mine) == ("ann", True) and mine.expires_at > time.time() + 200
    with Project.open(project.location, user="bob") as bob:
        theirs = bob.claim_image(img)
        assert (theirs.user, theirs.mine) == ("ann", False)  # nothing taken
        assert bob.claims()[img].user == "ann" and not bob.claims()[img].mine
        assert not bob.release_claim(img)  # not bob's to release
        assert project.claim_image(img).mine  # ann renews
        assert project.release_claim(img)
        assert bob.claim_image(img).mine
        assert project.claims()[img].user == "bob"


def test_an_expired_claim_frees_the_image(project, img):
    project.user = "crashed"
    project.claim_image(img, seconds=0.05)
    time.sleep(0.1)
    with Project.open(project.location, user="bob") as bob:
        assert bob.claims() == {}
        assert bob.claim_image(img).mine


def test_next_to_review_skips_images_claimed_by_someone_else(project):
    project.user = "ann"
    first, second = _predict(project, "plain/a.jpg", "plain/b.png")
    assert [q.image_id for q in project.review_queue()] == [first, second]
    with Project.open(project.location, user="bob") as bob:
        bob.claim_image(first)
        assert [q.image_id for q in project.review_queue(skip_claimed=True)] == [second]
        assert [q.image_id for q in bob.review_queue(skip_claimed=True)] == [first, second]  # own claims count
        assert [q.image_id for q in project.review_queue()] == [first, second]


def test_claims_go_with_their_images(project, img):
    project.claim_image(img)
    project.remove_images([img])
    assert project.claims() == {}


def test_a_claim_is_a_change_others_see(project, img):
    with Project.open(project.location, user="bob") as bob:
        bob.has_changed()
        project.claim_image(img)
        deadline = time.time() + 5
        while not bob.has_changed():
            assert time.time() < deadline, "the claim was never noticed"
            time.sleep(0.02)
