"""The review order: predictions awaiting review, least confident first (CLI and GUI)."""

from __future__ import annotations

from dataclasses import dataclass

from labeler.store import Project, QueueImage


@dataclass(frozen=True)
class ReviewItem:
    image_id: int
    path: str
    keypoint: str
    confidence: float | None  # None: the engine gave none (listed first)
    x: float
    y: float
    method: str | None
    model: str | None


def least_confident_points(project: Project, limit: int | None = None) -> list[ReviewItem]:
    """Predicted points, least confident first (unknown confidence first, then by path)."""
    points = project.review_points(limit)
    ids = {p.image_id for p in points}
    if len(ids) <= 500:  # a few lookups beat listing a large project
        paths = {i: project.image(i).path for i in ids}
    else:
        paths = {i: path for i, path, _ in project.image_index()}
    return [
        ReviewItem(p.image_id, paths.get(p.image_id, "?"), p.name, p.confidence, float(p.x or 0.0), float(p.y or 0.0), p.method, p.model)
        for p in points
    ]


def least_confident_images(project: Project, limit: int | None = None) -> list[QueueImage]:
    """Images with predictions awaiting review, by their least confident prediction."""
    return project.review_queue(limit)


def test_model_predictions(project: Project, *, reviewable: bool = True) -> dict[str, int]:
    """Test models (random weights, e.g. tiny-random) -> how many predictions awaiting review
    they made: the CLI and the app mark these, since they carry no content."""
    from labeler.correspondence.cards import is_test_model

    return {m: n for m, n in project.prediction_models(reviewable=reviewable).items() if m and is_test_model(m)}


TEST_MODEL_NOTE = "a TEST MODEL with random weights: its predictions carry no content"


def test_model_warning(model: str | None) -> str:
    """The one line said whenever a test model predicts (CLI, app, cluster runs alike)."""
    return f"{model} is {TEST_MODEL_NOTE} (for tests and timing only, never for labels)"
