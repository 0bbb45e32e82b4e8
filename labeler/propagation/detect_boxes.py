"""Boxes proposed by a text-prompted detector (:mod:`labeler.correspondence.detection`) for the
images a run would predict, stored as *detected* instances for a person to accept, adjust or
delete before keypoints are propagated into them.

Only images that have no boxed instance yet get proposals (a person's boxes are never second-
guessed). On an image that gets boxes, instances with no box and no confirmed point (what an
earlier whole-image prediction left) are replaced by the proposals. The same function serves the
CLI (``propagate --boxes detect --prompt``) and the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from labeler.correspondence.detection import TextBoxDetector
from labeler.errors import LabelerError
from labeler.propagation.images import DECODE_MAX_SIDE, ImageTask, decode
from labeler.propagation.targets import select_targets
from labeler.propagation.types import PropagationConfig
from labeler.store import Project


@dataclass
class BoxProposals:
    images: int = 0  # images the detector looked at
    boxes: dict[str, list[tuple[int, tuple[float, float, float, float], float]]] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    already_boxed: int = 0  # images left alone: they have a box already


def propose_boxes(
    project: Project,
    config: PropagationConfig,
    detector: TextBoxDetector,
    prompt: str,
    *,
    threshold: float = 0.2,
    max_boxes: int = 20,
    progress: Callable[[int, int], None] | None = None,
) -> BoxProposals:
    """Detect ``prompt`` on the run's target images (``config``'s selection) and store the boxes;
    path -> [(instance id, box, score)] in the result."""
    out = BoxProposals()
    selection = select_targets(project.list_images(), config)
    records = list(selection.candidates)
    boxed = {i.image_id for i in project.all_instances(image_ids=[r.id for r in records]) if i.box is not None} if records else set()
    todo = [r for r in records if r.id not in boxed]
    out.already_boxed = len(records) - len(todo)
    for n, r in enumerate(todo):
        try:
            file = project.image_path(r)
        except LabelerError as exc:  # a link out of the images folder: the store says why
            out.failed.append((r.path, str(exc)))
            continue
        decoded = decode(ImageTask(r.id, r.path, file, r.width, r.height), DECODE_MAX_SIDE)
        if decoded.array is None:
            out.failed.append((r.path, decoded.error or "cannot read"))
            continue
        sx, sy = decoded.scale
        found = detector.detect(decoded.array, prompt, threshold=threshold, max_boxes=max_boxes)
        out.images += 1
        boxes = [((d.box[0] / sx, d.box[1] / sy, d.box[2] / sx, d.box[3] / sy), d.score) for d in found]
        if boxes:
            made = project.replace_unboxed_with_detected(r.id, [b for b, _ in boxes])
            out.boxes[r.path] = [(inst.id, inst.box, score) for inst, (_, score) in zip(made, boxes, strict=True)]  # type: ignore[misc]
        if progress is not None:
            progress(n + 1, len(todo))
    return out
