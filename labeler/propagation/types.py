"""The values the propagation layer takes and gives back (frozen, so threads can share them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from labeler.errors import UserInputError

#: Progress stages, in the order a run goes through them.
STAGE_LOADING = "loading model"
STAGE_REFERENCES = "references"
STAGE_PREDICTING = "predicting"
STAGE_DONE = "done"


class NoReferencesError(UserInputError):
    """Nothing to propagate from: no image has a confirmed, visible point."""


@dataclass(frozen=True)
class PropagationConfig:
    """What to propagate with and to which images.

    ``model`` None = the method's default model. ``images`` is a glob (fnmatch) over paths
    relative to the images root; ``image_ids`` an explicit subset; both may be given (both must
    match). ``flip`` None = flip-aware matching when the schema has flip pairs.
    ``max_references`` caps the references used per keypoint (see :mod:`.references`).
    ``overrides`` replace fields of the engine's config dataclass (e.g. ``resolution``).
    """

    method: str = "dift"
    model: str | None = None
    preset: str = "fast"
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 4
    images: str | None = None
    image_ids: tuple[int, ...] | None = None
    force: bool = False
    flip: bool | None = None
    max_references: int = 8
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image_ids is not None:
            object.__setattr__(self, "image_ids", tuple(int(i) for i in self.image_ids))
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))

    def check(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise UserInputError(f"batch size must be a whole number of at least 1 (got {self.batch_size!r})")
        if isinstance(self.max_references, bool) or not isinstance(self.max_references, int) or self.max_references < 1:
            raise UserInputError(f"max references must be at least 1 (got {self.max_references!r})")
        if self.images is not None and not self.images.strip():
            raise UserInputError("--images needs a pattern, e.g. 'nest/*.jpg'")

    @property
    def overrides_dict(self) -> dict[str, Any]:
        return dict(self.overrides)


@dataclass(frozen=True)
class ProgressEvent:
    stage: str  # STAGE_*
    done: int
    total: int
    images_per_s: float | None = None
    eta_s: float | None = None
    message: str = ""
    image_ids: tuple[int, ...] = ()  # images whose predictions were just committed
    notice: bool = False  # the message matters beyond the progress display (a fallback): show it


@dataclass(frozen=True)
class PropagationSummary:
    predicted_images: int
    written_points: int
    kept_confirmed: int
    skipped_up_to_date: int
    failed: tuple[tuple[str, str], ...]  # (relative path, reason)
    stopped: bool
    seconds: float
    device: str
    messages: tuple[str, ...]
    signature: str | None = None  # the run's reference/engine signature (None: nothing ran)
    flipped_images: int = 0  # targets whose mirrored pose matched better
    targets: int = 0  # images that needed a prediction this run


@dataclass(frozen=True)
class CostEstimate:
    """UNet work of a run, counted as image evaluations (batch elements), before batching.

    ``unet_passes_per_target``: DIFT: ensemble copies per target; attention: keypoints x
    contexts x crops (x2 with flip), forward only; classical: 0.
    ``unet_passes_for_references``: attention: keypoints to optimise x contexts x steps
    (forward + backward); DIFT: ensemble per reference image still to describe; both x2 with flip.
    """

    unet_passes_per_target: int
    unet_passes_for_references: int
    description: str


@dataclass(frozen=True)
class PropagationPlan:
    """What a run would do, computed without loading a model (for the GUI, before a run)."""

    reference_images: int
    keypoints_with_reference: tuple[str, ...]
    keypoints_without_reference: tuple[str, ...]
    targets: int  # images that would be predicted (stale or never predicted; all with force)
    up_to_date: int  # selected images already predicted with the same signature
    signature_preview: str | None  # None until an engine with these settings has run once
    warnings: tuple[str, ...]
    cost: CostEstimate
    flip: bool = False
