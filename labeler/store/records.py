"""Plain, frozen values the store hands out (never ORM objects, so threads can share them).

Coordinates follow the project-wide convention of :mod:`labeler.correspondence.base`:
continuous pixels of the image as displayed (EXIF orientation applied); pixel ``i`` covers
``[i, i + 1)``; a valid point has ``0 <= x <= width`` and ``0 <= y <= height``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

# Point status: who decided where the point is.
MANUAL: Final = "manual"  # placed by a person
PREDICTED: Final = "predicted"  # written by an engine, awaiting review
ACCEPTED: Final = "accepted"  # a prediction a person accepted as it was
CORRECTED: Final = "corrected"  # a prediction a person moved (pred_x/pred_y keep the original)
POINT_STATUSES: Final = (MANUAL, PREDICTED, ACCEPTED, CORRECTED)
CONFIRMED_STATUSES: Final = (MANUAL, ACCEPTED, CORRECTED)

# Visibility, as in COCO. "Not labelled yet" is the absence of a row, never visibility 0.
ABSENT: Final = 0  # a person says the keypoint is not in the image
OCCLUDED: Final = 1  # at a known position but hidden
VISIBLE: Final = 2

# Image review status, kept up to date in the same transaction as every point change.
UNLABELED: Final = "unlabeled"  # no point rows at all
PARTIAL: Final = "partial"  # some confirmed points, no predictions, not every keypoint confirmed
REVIEW_PREDICTED: Final = "predicted"  # at least one prediction awaits review
REVIEWED: Final = "reviewed"  # every schema keypoint has a confirmed row
REVIEW_STATUSES: Final = (UNLABELED, PARTIAL, REVIEW_PREDICTED, REVIEWED)

# Where an instance's box came from (schema 6).
BOX_DRAWN: Final = "drawn"  # a person dragged it
BOX_IMPORTED: Final = "imported"  # read from a COCO/YOLO/DeepLabCut/SLEAP file
BOX_DETECTED: Final = "detected"  # proposed by a text-prompted detector, awaiting a person
BOX_DERIVED: Final = "derived"  # computed from the instance's points
BOX_SOURCES: Final = (BOX_DRAWN, BOX_IMPORTED, BOX_DETECTED, BOX_DERIVED)

# Image flag: what the annotator decided about the image as a whole (None: nothing).
FLAG_SKIP: Final = "skip"  # passed over on purpose: not labelled, not exported
FLAG_NO_OBJECT: Final = "no_object"  # the object is not in the image: exported as a negative
FLAG_LATER: Final = "later"  # come back to it (labelled and exported as usual)
IMAGE_FLAGS: Final = (FLAG_SKIP, FLAG_NO_OBJECT, FLAG_LATER)
#: A flagged image (any flag) is out of review: its predictions are never accepted or rejected
#: (in bulk, per image or per point) and do not count as "to review", and its points are never
#: propagation references. The annotator decided about the image as a whole; clearing the flag
#: brings it back. One rule for the store, the CLI and the app (see ``review_ops``).
FLAGS_OUT_OF_REVIEW: Final = IMAGE_FLAGS


def awaits_review(review_status: str, flag: str | None) -> bool:
    """True when an image counts as "to review": predictions await review and no flag took it out."""
    return review_status == REVIEW_PREDICTED and flag not in FLAGS_OUT_OF_REVIEW


@dataclass(frozen=True)
class Schema:
    """The keypoint schema: ordered names, skeleton edges and left/right flip pairs (by name)."""

    keypoints: tuple[str, ...] = ()
    skeleton: tuple[tuple[str, str], ...] = ()
    flip_pairs: tuple[tuple[str, str], ...] = ()

    def index(self, name: str) -> int:
        return self.keypoints.index(name)

    def flip_of(self, name: str) -> str | None:
        """The counterpart of ``name`` in a flip pair, or None."""
        for a, b in self.flip_pairs:
            if a == name:
                return b
            if b == name:
                return a
        return None

    def flip_permutation(self) -> tuple[int, ...]:
        """``perm[i]`` = index of keypoint i's flip counterpart (itself when unpaired)."""
        perm = list(range(len(self.keypoints)))
        for a, b in self.flip_pairs:
            ia, ib = self.index(a), self.index(b)
            perm[ia], perm[ib] = ib, ia
        return tuple(perm)


@dataclass(frozen=True)
class ImageRecord:
    id: int
    path: str  # POSIX path relative to the images root
    width: int  # as displayed (EXIF orientation applied)
    height: int
    orientation: int  # EXIF orientation tag of the file (1 = none)
    sha256: str
    size_bytes: int
    review_status: str
    missing: bool  # the file was not found at the last check
    added_at: float
    pred_signature: str | None = None  # engine signature of the latest prediction run
    pred_method: str | None = None
    pred_model: str | None = None
    pred_preset: str | None = None
    pred_flipped: bool | None = None
    predicted_at: float | None = None
    mtime_ns: int | None = None  # the file's mtime when last seen with the recorded content (None: unknown)
    changed: bool = False  # the file now holds another picture than the one labelled (sha256 differs)

    flag: str | None = None  # one of IMAGE_FLAGS, or None

@dataclass(frozen=True)
class FileCheck:
    """What :meth:`~labeler.store.Project.check_files` found: images whose file is gone, and
    images whose file now holds another picture than the one labelled."""

    missing: tuple[ImageRecord, ...]
    changed: tuple[ImageRecord, ...]


#: The per-image reason given for a file flagged ``changed``.
CHANGED_FILE = (
    "the file now holds another picture than the one labelled (its content changed since it was added); "
    "put the original back, or remove the image and add it again"
)


@dataclass(frozen=True)
class PointRecord:
    """One (image, keypoint) row. x and y are None exactly when visibility is ABSENT."""

    image_id: int
    name: str
    x: float | None
    y: float | None
    visibility: int
    status: str
    confidence: float | None = None
    method: str | None = None
    model: str | None = None
    pred_x: float | None = None  # the engine's original position, kept when a person confirms it
    pred_y: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    #: The row's version (not part of the point's value: a restored point equals its snapshot).
    version: int = field(default=1, compare=False)
    annotator: str | None = None  # who last confirmed it
    #: The instance (object) of the image the point belongs to (schema 6).
    instance_id: int | None = None

    @property
    def confirmed(self) -> bool:
        return self.status in CONFIRMED_STATUSES


@dataclass(frozen=True)
class InstanceRecord:
    """One object of an image: its points belong to it; its box is (x, y, w, h) in image
    pixels, or None; ``box_source`` says where the box came from (:data:`BOX_SOURCES`)."""

    id: int
    image_id: int
    name: str | None
    box: tuple[float, float, float, float] | None
    box_source: str | None
    review_status: str
    created_at: float = 0.0


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class AddImagesReport:
    added: tuple[str, ...] = ()
    already_present: tuple[str, ...] = ()
    skipped: tuple[SkippedFile, ...] = ()  # unreadable, truncated, empty, not an image
    reappeared: tuple[str, ...] = ()  # known images that had been marked missing
    renamed: tuple[tuple[str, str], ...] = ()  # (old path, new path): same content, labels kept


@dataclass(frozen=True)
class PredictionReport:
    images: int  # images of the batch (their signature is recorded)
    written: int  # predicted rows inserted or replaced
    kept_confirmed: int  # predictions not written because a person already confirmed the point
    removed: int = 0  # older predicted rows dropped because the new run did not predict them
    clipped: int = 0  # predictions pulled back inside the image bounds


@dataclass(frozen=True)
class ReferenceImage:
    """An image with confirmed points: ``points[name] = (x, y, visibility)``.

    Absent points (visibility 0) are left out unless asked for; they then carry NaN coordinates.
    """

    image_id: int
    path: str
    width: int
    height: int
    points: Mapping[str, tuple[float, float, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueImage:
    """An image awaiting review; ``min_confidence`` is its least confident prediction."""

    image_id: int
    path: str
    min_confidence: float | None
    n_predicted: int


@dataclass(frozen=True)
class StatusCounts:
    images: int
    images_by_status: Mapping[str, int]
    missing_images: int
    points: int
    points_by_status: Mapping[str, int]
    points_by_visibility: Mapping[int, int]
    #: flag -> how many images carry it; ``images_by_status`` counts only the unflagged images
    #: (a flagged image is out of review, see FLAGS_OUT_OF_REVIEW), so the two add up to ``images``.
    images_by_flag: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportedPoint:
    """One point from an external file, for :meth:`Project.merge_points`.

    ``status`` may be any point status; x and y are ignored (stored as None) when visibility is 0.
    """

    x: float | None
    y: float | None
    visibility: int
    status: str = MANUAL
    confidence: float | None = None


@dataclass(frozen=True)
class MergeConflictItem:
    path: str
    name: str
    project: PointRecord
    incoming: ImportedPoint


@dataclass(frozen=True)
class MergeReport:
    images_added: tuple[str, ...] = ()
    written: int = 0  # confirmed rows inserted or replaced
    predictions_written: int = 0
    unchanged: int = 0  # identical to what the project already had
    kept_confirmed: int = 0  # incoming predictions not written over a person's point
    conflicts: tuple[MergeConflictItem, ...] = ()  # confirmed in both, different (kept or replaced)
    schema_created: bool = False
    flags_set: int = 0  # image flags taken from the file (on images that had none)


@dataclass(frozen=True)
class Claim:
    """Who is labelling an image, until when (epoch seconds); ``mine``: this program's user."""

    image_id: int
    user: str
    expires_at: float
    mine: bool
