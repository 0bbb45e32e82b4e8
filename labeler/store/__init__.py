"""The project store: one SQLite file per project (no torch, no Qt).

    from labeler.store import Project
    with Project.open("birds.labeler") as project:
        image = project.image_by_path("nest/001.jpg")
        project.set_point(image.id, "beak", 120.5, 88.0)   # committed when the call returns

See :class:`Project` for the whole API; every value it returns is a frozen dataclass from
:mod:`labeler.store.records`.
"""

from labeler.store.merge_ops import MergeConflict, OnConflict
from labeler.store.migrations import SCHEMA_VERSION
from labeler.store.point_ops import PointValue
from labeler.store.prediction_ops import PredictedPoints, PredictionItem
from labeler.store.project import PROJECT_SUFFIX, Project
from labeler.store.records import (
    ABSENT,
    ACCEPTED,
    CONFIRMED_STATUSES,
    CORRECTED,
    FLAG_LATER,
    FLAG_NO_OBJECT,
    FLAG_SKIP,
    FLAGS_OUT_OF_REVIEW,
    IMAGE_FLAGS,
    awaits_review,
    MANUAL,
    OCCLUDED,
    PARTIAL,
    POINT_STATUSES,
    PREDICTED,
    REVIEW_PREDICTED,
    REVIEW_STATUSES,
    REVIEWED,
    UNLABELED,
    VISIBLE,
    AddImagesReport,
    Claim,
    ImageRecord,
    ImportedPoint,
    MergeConflictItem,
    MergeReport,
    PointRecord,
    PredictionReport,
    QueueImage,
    ReferenceImage,
    Schema,
    SkippedFile,
    FileCheck,
    CHANGED_FILE,
    StatusCounts,
)
from labeler.store.relpaths import (
    OutsideImagesFolder,
    escapes,
    find_on_disk,
    image_file,
    normalise_rel,
    real_image_file,
    relative_to_root,
    unicode_key,
)
from labeler.store.scanning import ProbedImage, find_image_files, format_skipped, no_images_message, probe_files
from labeler.store.schema_ops import validate_schema

__all__ = [
    "ABSENT",
    "ACCEPTED",
    "CONFIRMED_STATUSES",
    "CORRECTED",
    "FLAG_LATER",
    "FLAG_NO_OBJECT",
    "FLAG_SKIP",
    "FLAGS_OUT_OF_REVIEW",
    "IMAGE_FLAGS",
    "awaits_review",
    "MANUAL",
    "OCCLUDED",
    "PARTIAL",
    "POINT_STATUSES",
    "PREDICTED",
    "PROJECT_SUFFIX",
    "REVIEWED",
    "REVIEW_PREDICTED",
    "REVIEW_STATUSES",
    "SCHEMA_VERSION",
    "UNLABELED",
    "VISIBLE",
    "AddImagesReport",
    "Claim",
    "ImportedPoint",
    "MergeConflict",
    "MergeConflictItem",
    "MergeReport",
    "OnConflict",
    "ImageRecord",
    "PointRecord",
    "PointValue",
    "PredictedPoints",
    "PredictionItem",
    "PredictionReport",
    "ProbedImage",
    "Project",
    "QueueImage",
    "ReferenceImage",
    "Schema",
    "SkippedFile",
    "FileCheck",
    "CHANGED_FILE",
    "StatusCounts",
    "escapes",
    "image_file",
    "real_image_file",
    "OutsideImagesFolder",
    "find_image_files",
    "find_on_disk",
    "format_skipped",
    "no_images_message",
    "normalise_rel",
    "probe_files",
    "relative_to_root",
    "unicode_key",
    "validate_schema",
]
