"""Which confirmed points serve as references, and the signature of a run.

References are the confirmed (manual, corrected or accepted) points that are visible: an
occluded point's position is known, but what the image shows there is the occluder, so it
would teach the engine the wrong appearance. Absent points have no position. Points of flagged
images (skip, no object, later) are never references.

Per keypoint at most ``max_references`` points are used, chosen in this order:

1. manual points (placed by a person from scratch),
2. corrected predictions (a person moved them: the engine had got them wrong, so they carry
   the most new information),
3. accepted predictions (the engine had them right already),

and within each group the most recently edited first. All chosen references of a keypoint go
to the engine together, which combines them (DIFT and classical: per-pixel maximum of the
similarity maps, i.e. the best-matching reference wins at each pixel; attention: the optimised
contexts of every reference are pooled and averaged like more contexts).

A reference point of an instance with a box is described from a crop around that box
(:mod:`.boxes`): the reference "image" is then the crop, told apart in caches and signatures
by :attr:`RefImage.content`. Points of instances without a box use the whole image, as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from labeler.propagation.boxes import Crop, crop_around, inside
from labeler.store import ACCEPTED, CONFIRMED_STATUSES, CORRECTED, MANUAL, VISIBLE, ImageRecord, PointRecord, Project

#: Bumped when the way references are chosen or signed changes.
SIGNATURE_VERSION = 1
_PRIORITY = {MANUAL: 0, CORRECTED: 1, ACCEPTED: 2}


@dataclass(frozen=True)
class RefImage:
    image_id: int
    path: str
    sha256: str
    width: int
    height: int
    instance_id: int | None = None
    crop: Crop | None = None  # project pixels; None: the whole image

    @property
    def content(self) -> str:
        """What the reference's pixels are: the file's sha256, plus the crop when there is one."""
        if self.crop is None:
            return self.sha256
        return self.sha256 + "@" + ",".join(f"{v:.6g}" for v in self.crop)


@dataclass(frozen=True)
class RefPoint:
    """One confirmed visible point used as a reference."""

    image: RefImage
    name: str
    x: float
    y: float
    status: str
    updated_at: float


def _rank(p: PointRecord) -> tuple[int, float, int]:
    return (_PRIORITY.get(p.status, 9), -p.updated_at, p.image_id)


def candidate_points(project: Project) -> list[PointRecord]:
    """Every confirmed, visible point of the project's unflagged images (one query): a flagged
    image (skipped, no object, for later) is never a reference (store.FLAGS_OUT_OF_REVIEW)."""
    return [
        p
        for p in project.all_points(statuses=CONFIRMED_STATUSES, unflagged=True)
        if p.visibility == VISIBLE and p.x is not None and p.y is not None
    ]


def choose(points: Iterable[PointRecord], max_references: int) -> dict[str, list[PointRecord]]:
    """keypoint -> its chosen points, best first (see the module docstring for the order)."""
    by_name: dict[str, list[PointRecord]] = {}
    for p in points:
        by_name.setdefault(p.name, []).append(p)
    return {name: sorted(pts, key=_rank)[:max_references] for name, pts in by_name.items()}


def resolve(
    project: Project,
    chosen: Mapping[str, Sequence[PointRecord]],
    keypoints: Sequence[str],
    *,
    records: Mapping[int, ImageRecord] | None = None,
) -> dict[str, list[RefPoint]]:
    """Attach image records (and the crop of a boxed instance) to the chosen points, keypoints
    in schema order. A point outside its instance's crop is left out (it cannot be described)."""
    wanted = {p.image_id for pts in chosen.values() for p in pts}
    boxes = {i.id: i.box for i in project.all_instances(image_ids=wanted) if i.box is not None} if wanted else {}
    images: dict[tuple[int, int | None], RefImage] = {}
    out: dict[str, list[RefPoint]] = {}
    for name in keypoints:
        for p in chosen.get(name, ()):
            box = boxes.get(p.instance_id) if p.instance_id is not None else None
            key = (p.image_id, p.instance_id if box is not None else None)
            if key not in images:
                rec = records[p.image_id] if records is not None and p.image_id in records else project.image(p.image_id)
                crop = None if box is None else crop_around(box, rec.width, rec.height)
                images[key] = RefImage(rec.id, rec.path, rec.sha256, rec.width, rec.height, key[1], crop)
            assert p.x is not None and p.y is not None
            ref = images[key]
            if ref.crop is not None and not inside(ref.crop, p.x, p.y):
                continue
            out.setdefault(name, []).append(RefPoint(ref, name, float(p.x), float(p.y), p.status, p.updated_at))
    return out


def select_references(project: Project, max_references: int) -> dict[str, list[RefPoint]]:
    """keypoint -> chosen reference points (keypoints with none are left out)."""
    keypoints = project.schema().keypoints
    return resolve(project, choose(candidate_points(project), max_references), keypoints)


def by_image(refs: Mapping[str, Sequence[RefPoint]]) -> dict[int, list[RefPoint]]:
    """The same points grouped by reference image id."""
    out: dict[int, list[RefPoint]] = {}
    for pts in refs.values():
        for p in pts:
            out.setdefault(p.image.image_id, []).append(p)
    return out


def by_reference(refs: Mapping[str, Sequence[RefPoint]]) -> dict[RefImage, list[RefPoint]]:
    """The same points grouped by what is prepared once: a whole reference image, or the crop
    around one of its instances."""
    out: dict[RefImage, list[RefPoint]] = {}
    for pts in refs.values():
        for p in pts:
            out.setdefault(p.image, []).append(p)
    return out


def run_signature(engine_signature: str, used: Iterable[RefPoint], *, flip: bool, max_references: int) -> str:
    """What a target's prediction depends on: the engine's settings, the exact reference points
    (by image content, keypoint and position), flip-aware matching on/off and the cap."""
    refs = sorted((p.image.content, p.name, p.x, p.y) for p in used)
    payload = {
        "version": SIGNATURE_VERSION,
        "engine": engine_signature,
        "references": refs,
        "flip": bool(flip),
        "max_references": int(max_references),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "prop:" + hashlib.sha256(text.encode("ascii")).hexdigest()[:24]
